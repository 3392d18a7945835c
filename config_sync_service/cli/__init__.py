"""The `config-sync` command line (`config_sync_service.cli:app`)."""

from config_sync_service.cli.app import app, main

__all__ = ["app", "main"]
