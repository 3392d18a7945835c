"""Fencing (DESIGN §13): a process that lost its claim on an agent makes no further mutating Pipecat call.

Pipecat Cloud takes no fencing token, so a stale call cannot be refused at the far end; the process checks its
own claim before each mutating call, locally and with no round trip: the last successful renewal against the
lease length on `time.monotonic()`, which keeps running while the process is stopped (SIGSTOP, a VM freeze, a
long pause), so a process that wakes up past its lease knows it at once. The claim is held only while less than
`HELD_SHARE` of the lease has passed since the last renewal: a request sent then still lands well inside it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from config_sync_service.core.errors import ClassifiedError

HELD_SHARE = 0.75  # the keeper renews every third of the lease: two renewals may fail before this is reached


class FencedError(ClassifiedError):
    """The claim on the agent was lost (or may have been): no further Pipecat call, no success claimed."""

    reason = "fenced"


@dataclass(slots=True)
class Fence:
    """One process's claim on one agent, as this process knows it."""

    lease_s: float
    renewed_at: float = field(default_factory=time.monotonic)  # when the last successful renewal was started
    lost: bool = False  # a renewal found the claim taken over

    def renewed(self, started: float) -> None:
        self.renewed_at = max(self.renewed_at, started)

    @property
    def held(self) -> bool:
        return not self.lost and time.monotonic() - self.renewed_at < self.lease_s * HELD_SHARE

    def check(self) -> None:
        if not self.held:
            raise FencedError("the claim on the agent was lost" if self.lost else "the claim on the agent lapsed")


_current: ContextVar[Fence | None] = ContextVar("config_sync_fence", default=None)


@contextmanager
def guarding(fence: Fence) -> Iterator[Fence]:
    """Calls made inside the block (in this task and the tasks it starts) check `fence` first."""
    token = _current.set(fence)
    try:
        yield fence
    finally:
        _current.reset(token)


def check_claim() -> None:
    """Raise FencedError if the calling pass's claim is no longer held (no pass, no claim to check: nothing)."""
    fence = _current.get()
    if fence is not None:
        fence.check()
