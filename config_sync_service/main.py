"""The FastAPI application of the daemon."""

from __future__ import annotations

from fastapi import FastAPI

from config_sync_service import __version__


def create_app() -> FastAPI:
    return FastAPI(title="config-sync", version=__version__)
