"""The daemon's FastAPI application: its routes, and a lifespan that runs the `Runtime` and refreshes its gauges."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from config_sync_service import __version__
from config_sync_service.api import agents, dead_letters, health, metrics, status, ui
from config_sync_service.core.config import Settings, get_settings
from config_sync_service.core.logging import configure_logging
from config_sync_service.runtime import Runtime


def create_app(settings: Settings | None = None) -> FastAPI:
    """The app; settings are read when it starts (so importing this module never fails on configuration)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        active = settings or get_settings()
        configure_logging(level=active.log_level, fmt=active.log_format, secret_values=active.secret_values())
        if active.pipecat_api_key is None:
            raise RuntimeError("config-sync: setting PIPECAT_API_KEY is required to serve")
        runtime = Runtime.build(active)
        app.state.runtime = runtime
        runtime.start()
        gauges = asyncio.create_task(metrics.refresh_process_forever(runtime), name="metrics")
        try:
            yield
        finally:
            gauges.cancel()
            await asyncio.gather(gauges, return_exceptions=True)
            await runtime.stop()

    app = FastAPI(title="config-sync", version=__version__, lifespan=lifespan)
    app.include_router(health.router)
    app.include_router(status.router)
    app.include_router(metrics.router)
    app.include_router(dead_letters.router)
    app.include_router(agents.reading)
    app.include_router(agents.changing)
    app.include_router(ui.router)
    return app
