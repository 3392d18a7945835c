"""In-process counters for `/status`; every count also feeds the Prometheus counters (`core.metrics.count`)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from config_sync_service.core import metrics
from config_sync_service.core.logging import scrub
from config_sync_service.core.metrics import Event, Outcome


@dataclass(slots=True)
class LastError:
    at: float
    agent_id: str | None
    error_class: str
    message: str


@dataclass(slots=True)
class Stats:
    """What happened in this process since it started."""

    counters: Counter[Outcome | Event] = field(default_factory=Counter)
    last_error: LastError | None = None

    def count(self, what: Outcome | Event, n: int = 1) -> None:
        self.counters[what] += n
        metrics.count(what, n)

    def error(self, *, agent_id: str | None, error_class: str, message: str) -> None:
        self.last_error = LastError(time.time(), agent_id, error_class, scrub(message))

    def snapshot(self) -> dict[str, Any]:
        last = self.last_error
        return {
            "counters": {str(k): v for k, v in sorted(self.counters.items())},
            "last_error": None
            if last is None
            else {"at": last.at, "agent_id": last.agent_id, "error_class": last.error_class, "message": last.message},
        }
