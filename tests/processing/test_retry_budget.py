"""The retry budget, on a fake clock."""

from __future__ import annotations

import pytest

from config_sync_service.processing.retry_budget import RetryBudget
from tests.helpers import FakeClock


def test_budget_spends_tokens_then_makes_retries_wait() -> None:
    clock = FakeClock()
    budget = RetryBudget(rate_per_s=10.0, burst=3, clock=clock)
    assert [budget.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    waits = [budget.reserve() for _ in range(3)]
    assert 0.05 < waits[0] <= 0.11 and waits[2] > waits[0]
    assert waits == pytest.approx([0.1, 0.2, 0.3])  # one token every 0.1 s, queued behind each other


def test_tokens_come_back_with_time_up_to_the_burst() -> None:
    clock = FakeClock()
    budget = RetryBudget(rate_per_s=10.0, burst=3, clock=clock)
    for _ in range(5):
        budget.reserve()  # two in debt
    clock.advance(0.5)  # five tokens earned: the debt paid, three free (the burst), not five
    assert [budget.reserve() for _ in range(3)] == [0.0, 0.0, 0.0]
    assert budget.reserve() > 0
