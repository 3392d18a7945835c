"""What the message that queued an agent said, kept beside the queue until a worker takes the agent, and the
rules for merging it with what was already waiting (`PendingHints`)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, replace

from config_sync_service.schemas.messages import ChangeMessage


@dataclass(frozen=True, slots=True)
class Hint:
    """What the message that queued an agent said (for logs and dead letters); `force` replays errors.

    A replay (`config-sync dlq replay`, `/operator/dlq/replay`) sets `force`, the `replay_count` its dead letter
    gets if the agent fails again, and the `replay_id` the tooling registered: `force` counts only while that id is
    registered and unspent (`SyncEngine._replay_checked` at intake, `Processor._spend_replay` once claimed).
    """

    message: ChangeMessage | None = None
    raw: bytes | None = None
    force: bool = False
    replay_count: int = 0
    replay_id: str | None = None

    @classmethod
    def of(cls, message: ChangeMessage, raw: bytes) -> Hint:
        if message.replay:
            return cls(message, raw, force=True, replay_count=message.replay_count, replay_id=message.replay_id)
        return cls(message, raw)

    def spent(self) -> Hint:
        """The same hint once its `force` was used (on the first pass, or by another worker)."""
        return replace(self, force=False)


class PendingHints:
    """The hint of each queued agent. The queue holds an agent once, so hints that meet are merged here."""

    def __init__(self) -> None:
        self._waiting: dict[uuid.UUID, Hint] = {}

    def __len__(self) -> int:
        return len(self._waiting)

    def add(self, agent_id: uuid.UUID, hint: Hint) -> None:
        """The newest hint wins, but a replay waiting for a worker stays a replay when a plain message joins it."""
        waiting = self._waiting.get(agent_id)
        if waiting is not None and waiting.force and not hint.force:
            hint = replace(hint, force=True, replay_count=waiting.replay_count, replay_id=waiting.replay_id)
        self._waiting[agent_id] = hint

    def take(self, agent_id: uuid.UUID) -> Hint:
        """A worker takes the agent: its hint, or an empty one (the sweep, a retry)."""
        return self._waiting.pop(agent_id, Hint())

    def keep_for_retry(self, agent_id: uuid.UUID, hint: Hint) -> None:
        """A replayed agent tried again later: its next dead letter still counts the replay (the force is spent)."""
        if hint.replay_count:
            self._waiting.setdefault(agent_id, replace(hint, force=False, replay_id=None))

    def put_back(self, agent_id: uuid.UUID, hint: Hint) -> None:
        """A pass that crashed: its hint waits for the retry, unless a newer one arrived meanwhile."""
        if hint != Hint():
            self._waiting.setdefault(agent_id, hint)
