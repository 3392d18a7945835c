"""In-process counters for `/status`; every count also feeds the Prometheus counters (`metrics.count`)."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from config_sync_service import metrics
from config_sync_service.core.logging import scrub


@dataclass(slots=True)
class LastError:
    at: float
    agent_id: str | None
    error_class: str
    message: str


@dataclass(slots=True)
class Stats:
    """What happened in this process since it started."""

    started_at: float = field(default_factory=time.time)
    counters: Counter[str] = field(default_factory=Counter)
    last_error: LastError | None = None

    def count(self, name: str, n: int = 1) -> None:
        self.counters[name] += n
        metrics.count(name, n)

    def error(self, *, agent_id: str | None, error_class: str, message: str) -> None:
        self.last_error = LastError(time.time(), agent_id, error_class, scrub(message))

    def snapshot(self) -> dict[str, Any]:
        last = self.last_error
        return {
            "counters": dict(sorted(self.counters.items())),
            "last_error": None
            if last is None
            else {"at": last.at, "agent_id": last.agent_id, "error_class": last.error_class, "message": last.message},
        }
