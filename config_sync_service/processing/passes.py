"""The data one pass over an agent carries, frozen: the pass itself, the write that ends it, its result."""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from structlog.stdlib import BoundLogger

from config_sync_service.core.logging import get_logger
from config_sync_service.core.metrics import Outcome
from config_sync_service.db import crud
from config_sync_service.db.models import Agent, AgentConfiguration, SyncStatus
from config_sync_service.mq.dead_letter import DeadLetterEntry
from config_sync_service.processing.hints import Hint
from config_sync_service.processing.operations import SessionReport, Target
from config_sync_service.processing.plan import Action, Plan
from config_sync_service.schemas.agent_config import InvalidConfigurationError

log = get_logger("config_sync.processor")


@dataclass(frozen=True, slots=True)
class Pass:
    """One look at the agent: what the claim (or a re-read) found, the plan, and what the Pipecat calls need."""

    agent: Agent
    config: AgentConfiguration | None
    plan: Plan
    number: int  # 1: the first pass of a claim
    target: Target | None = None  # what a provision or an update deploys
    invalid: InvalidConfigurationError | None = None  # or why the configuration cannot be deployed
    started: float = field(default_factory=time.monotonic)  # planned at (the history's duration)

    @property
    def needs_executor(self) -> bool:
        """Pipecat calls to make, or a refused configuration to record as a failure (which makes none)."""
        return self.invalid is not None or self.plan.action not in (Action.NOOP, Action.MARK_SYNCED, Action.WAIT)

    @property
    def attempts_so_far(self) -> int:
        """Failed attempts in a row at this pass's version: a new version starts counting again."""
        return self.agent.attempts if self.agent.target_version == self.plan.version else 0

    @property
    def secret_values(self) -> list[str]:
        """What the pass must redact from everything it reports: the values of the secret set it writes (the
        settings' redactor knows the shared ones already), or, with nothing to write, the agent's own secrets."""
        if self.target is not None:
            return list(self.target.secret_values.values())
        own = self.config.secrets if self.config is not None else {}
        return [v for v in own.values() if isinstance(v, str)] if isinstance(own, Mapping) else []

    def log(self, hint: Hint) -> BoundLogger:
        change = hint.message.change_type.value if hint.message else None
        return log.bind(
            agent_id=str(self.agent.id), version=self.plan.version, change_type=change, action=self.plan.action.value
        )


@dataclass(frozen=True, slots=True)
class Write:
    """One write of an agent's sync columns at `version` (a compare-and-set: crud.update_agent_sync_status)."""

    status: SyncStatus
    version: int
    synced: bool = False
    fields: dict[str, object] = field(default_factory=dict)

    def fields_to_write(self) -> dict[str, Any]:
        """The keyword arguments of crud.sync_values (and crud.update_agent_sync_status), but the version."""
        return {"status": self.status, "synced": self.synced} | self.fields

    def values(self) -> dict[str, Any]:
        """The columns this write sets (crud.sync_values)."""
        return crud.sync_values(version=self.version, **self.fields_to_write())

    @classmethod
    def of(cls, plan: Plan, status: SyncStatus, *, synced: bool = False, **fields: object) -> Write:
        defaults: dict[str, object] = {"next_retry_at": None}
        if status in (SyncStatus.SYNCED, SyncStatus.DELETED, SyncStatus.DEPLOYING):
            defaults |= {"attempts": 0, "error_class": None}
        return cls(status, plan.version, synced, defaults | fields)


@dataclass(frozen=True, slots=True)
class Result:
    """What a pass came to: its outcome, when to look at the agent again (None: only when something changes), the
    write that records it, a dead letter to push, what the live sessions answered a context push, and whether it
    ended in doubt about what Pipecat now runs (an observation of the agent is then asked for: verify after write)."""

    outcome: Outcome
    requeue_after: float | None = None
    write: Write | None = None
    dead_letter: DeadLetterEntry | None = None
    sessions: SessionReport | None = None
    observe: bool = False
