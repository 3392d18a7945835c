"""What the message that queued an agent said, kept beside the queue until a worker takes the agent."""

from __future__ import annotations

from dataclasses import dataclass

from config_sync_service.schemas.messages import ChangeMessage


@dataclass(frozen=True, slots=True)
class Hint:
    """What the message that queued an agent said (for logs and dead letters); `force` replays errors.

    A replay (`config-sync dlq replay`) sets `force`, the `replay_count` its dead letter gets if the agent fails
    again, and, when it came over the channel, a `replay_id` that only one process may spend.
    """

    message: ChangeMessage | None = None
    raw: bytes | None = None
    force: bool = False
    replay_count: int = 0
    replay_id: str | None = None
