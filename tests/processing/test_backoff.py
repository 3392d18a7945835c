"""Backoff delays and the retry budget."""

from __future__ import annotations

import time

from config_sync_service.processing.backoff import RetryBudget, backoff_delay


def test_backoff_grows_is_capped_and_respects_retry_after() -> None:
    delays = [backoff_delay(n, base_s=0.5, cap_s=4.0) for n in range(1, 10)]
    assert 0.25 <= delays[0] <= 0.5
    assert all(d <= 4.0 for d in delays)
    assert max(delays[5:]) >= 2.0
    assert backoff_delay(1, base_s=0.5, cap_s=4.0, retry_after_s=7.0) == 7.0


def test_budget_spends_tokens_then_makes_retries_wait() -> None:
    budget = RetryBudget(rate_per_s=10.0, burst=3)
    assert [budget.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [budget.reserve() for _ in range(3)]
    assert 0.05 < waits[0] <= 0.11 and waits[2] > waits[0]


def test_a_429_pauses_the_whole_process() -> None:
    budget = RetryBudget(rate_per_s=100.0, burst=100)
    budget.pause(0.2)
    budget.pause(0.1)  # a shorter pause never shortens the current one
    assert 0.15 < budget.pause_remaining() <= 0.2
    assert budget.reserve() > 0.15
    assert budget.pauses == 1
    started = time.monotonic()
    import asyncio

    asyncio.run(budget.wait_until_clear())
    assert time.monotonic() - started >= 0.15
