"""The retry budget."""

from __future__ import annotations

import time

from config_sync_service.processing.backoff import RetryBudget


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
