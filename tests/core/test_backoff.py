"""The one backoff formula, on a seeded random source (no sleeping)."""

from __future__ import annotations

import random

from config_sync_service.core.backoff import backoff_delay


def test_backoff_grows_is_capped_and_respects_retry_after() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, base_s=0.5, cap_s=4.0, rng=rng) for n in range(1, 10)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(d <= 4.0 for d in delays)
    assert max(delays[5:]) >= 2.0
    assert backoff_delay(1, base_s=0.5, cap_s=4.0, floor_s=7.0) == 7.0


def test_each_delay_lies_between_half_and_all_of_its_ceiling() -> None:
    rng = random.Random(11)
    for attempt, ceiling in [(1, 0.2), (2, 0.4), (3, 0.8), (4, 1.6), (5, 2.0), (30, 2.0)]:
        for _ in range(50):
            assert ceiling / 2 <= backoff_delay(attempt, base_s=0.2, cap_s=2.0, rng=rng) <= ceiling


def test_a_floor_below_the_formula_changes_nothing() -> None:
    first, second = random.Random(3), random.Random(3)
    assert backoff_delay(4, base_s=1.0, cap_s=60.0, floor_s=0.1, rng=first) == backoff_delay(
        4, base_s=1.0, cap_s=60.0, rng=second
    )
