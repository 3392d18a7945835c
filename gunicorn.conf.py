"""gunicorn settings for config-sync: `gunicorn -c gunicorn.conf.py config_sync_service.main:app`.

Everything is read from the environment, so the image and `config-sync serve` need no flags. config_sync_service
and prometheus_client are imported only inside the hooks: this file loads even where the app is not installed.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from gunicorn import glogging  # type: ignore[import-untyped]

# --- serving ----------------------------------------------------------------------------------------------
bind = os.environ.get("BIND") or f"0.0.0.0:{os.environ.get('PORT', '8000')}"
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
worker_class = "uvicorn_worker.UvicornWorker"
# After SIGTERM a worker's lifespan gives in-flight syncs SHUTDOWN_GRACE_S to finish; the margin covers closing
# pools and connections. Kubernetes' terminationGracePeriodSeconds must exceed preStop sleep + this.
graceful_timeout = int(float(os.environ.get("SHUTDOWN_GRACE_S", "25"))) + 5
timeout = 30  # a worker whose event loop is stuck this long is killed and replaced
keepalive = 5
max_requests = 0  # never recycle workers: each runs long-lived listener and sync tasks
# gunicorn >= 25 opens a control socket under $HOME by default: read-only in the pod, and shared between
# instances on one machine. Workers are sized by WEB_CONCURRENCY, so it is not needed.
control_socket_disable = True

# --- logging: one JSON line per record, master and workers alike ----------------------------------------------
loglevel = os.environ.get("LOG_LEVEL", "INFO").lower()
errorlog = "-"
accesslog = None  # uvicorn writes the access log (logger `uvicorn.access`), routed to JSON below


def _configure_logging() -> None:
    from config_sync_service.core.logging import configure_logging

    configure_logging(level=os.environ.get("LOG_LEVEL", "INFO").upper(), fmt=os.environ.get("LOG_FORMAT", "json"))


class _AccessFields(logging.Filter):
    """Turn uvicorn's positional access-log arguments into JSON fields; drop successful probes below DEBUG."""

    def filter(self, record: logging.LogRecord) -> bool:
        args = record.args
        if isinstance(args, tuple) and len(args) == 5:
            client, method, path, http_version, status = args
            record.__dict__.update(client=client, method=method, path=path, http_version=http_version, status=status)
            if path in ("/healthz", "/readyz") and status == 200:
                return logging.getLogger().isEnabledFor(logging.DEBUG)
        return True


class JsonLogger(glogging.Logger):  # type: ignore[misc]  # gunicorn has no type hints
    """gunicorn's logger, re-routed through config_sync_service.core.logging (also on SIGHUP reloads)."""

    def setup(self, cfg: Any) -> None:
        super().setup(cfg)
        _configure_logging()


logger_class = JsonLogger


# --- Prometheus: one directory of metric files shared by the workers ------------------------------------------
# prometheus_client reads the variable when it is first imported, i.e. in each worker as it loads the app.
os.environ.setdefault("PROMETHEUS_MULTIPROC_DIR", str(Path(tempfile.gettempdir()) / "prometheus-multiproc"))


def on_starting(server: Any) -> None:
    """Master start: begin with an empty metrics directory (files of dead processes would skew the sums)."""
    directory = Path(os.environ["PROMETHEUS_MULTIPROC_DIR"])
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()


def post_fork(server: Any, worker: Any) -> None:
    """In the new worker: UvicornWorker copied gunicorn's (empty) handlers onto uvicorn's loggers; route them again."""
    _configure_logging()
    logging.getLogger("uvicorn.access").addFilter(_AccessFields())


def child_exit(server: Any, worker: Any) -> None:
    """A worker is gone: fold its live gauges out of the multiprocess totals."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)  # type: ignore[no-untyped-call]
