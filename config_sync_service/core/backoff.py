"""The one backoff formula (DESIGN §5): every retry loop of config-sync waits what `backoff_delay` says.

The listener's reconnects, the sweeper after a failed sweep, the engine after a crashed pass, the processor's
retries and the Pipecat client's short retries differ only in their base and cap.
"""

from __future__ import annotations

import random

_jitter = random.Random()


def backoff_delay(
    attempt: int,
    *,
    base_s: float,
    cap_s: float,
    floor_s: float | None = None,
    factor: float = 2.0,
    rng: random.Random = _jitter,
) -> float:
    """The wait before try number `attempt` + 1: capped exponential backoff with jitter, never under `floor_s`.

    The ceiling grows from `base_s` by `factor` per attempt (doubles, unless told) up to `cap_s`; the delay is
    drawn between half of it and all of it, so that many clients that failed together do not come back together.
    `floor_s` is a server's `Retry-After`: no retry sooner than that, whatever the formula says.
    """
    ceiling = min(cap_s, base_s * factor ** max(0, attempt - 1))
    delay = rng.uniform(ceiling / 2, ceiling)
    return delay if floor_s is None else max(delay, floor_s)
