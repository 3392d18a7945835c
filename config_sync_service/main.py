"""What gunicorn serves: `config_sync_service.main:app` (the app itself is built in `api/app.py`)."""

from config_sync_service.api.app import create_app

app = create_app()

__all__ = ["app", "create_app"]
