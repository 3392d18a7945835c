"""failures.decide: what a failed pass leads to, by the kind `classify()` gives its error (DESIGN §5, §14)."""

from __future__ import annotations

from config_sync_service.core.errors import ErrorKind
from config_sync_service.db.models import SyncStatus
from config_sync_service.pipecat_client.errors import PipecatServerError, PipecatValidationError
from config_sync_service.processing import failures
from config_sync_service.processing.config import RetryPolicy
from config_sync_service.processing.retry_budget import RetryBudget
from config_sync_service.schemas.agent_config import InvalidConfigurationError

RETRY = RetryPolicy(base_delay_s=0.5, max_delay_s=30.0, max_attempts=3)


def decide(exc: Exception, attempts_so_far: int, *, polling: bool = False) -> failures.Failure:
    return failures.decide(
        exc,
        attempts_so_far=attempts_so_far,
        polling=polling,
        deprovisioning=False,
        retry=RETRY,
        poll_interval_s=5.0,
        budget=RetryBudget(rate_per_s=1000.0, burst=1000),
    )


def outcomes(exc: Exception, attempts: int) -> list[tuple[bool, str | None]]:
    """(retried, dead-letter reason) for attempts 1 … `attempts` in a row."""
    return [(f.retried, f.dead_letter_reason) for f in (decide(exc, n) for n in range(attempts))]


def test_a_permanent_error_stops_at_once_with_its_reason() -> None:
    refused = InvalidConfigurationError(["llm_context.tools[1]: unknown tool 'voicemial'"])
    failure = decide(refused, 0)
    assert (failure.kind, failure.status, failure.retry_in_s) == (ErrorKind.PERMANENT, SyncStatus.ERROR_SYNC, None)
    assert (failure.attempts, failure.dead_letter_reason) == (1, "invalid_configuration")
    assert failure.message == "llm_context.tools[1]: unknown tool 'voicemial'"
    assert decide(PipecatValidationError("400 bad", status=400), 0).dead_letter_reason == "permanent_error"


def test_a_transient_error_is_dead_lettered_once_when_its_attempts_are_spent_and_retried_on() -> None:
    """An outage ends: the agent converges then without a replay; the dead letter tells the operator meanwhile."""
    assert outcomes(PipecatServerError("503", status=503), 5) == [
        (True, None),
        (True, None),
        (True, "retries_exhausted"),
        (True, None),
        (True, None),
    ]
    assert 15.0 <= (decide(PipecatServerError("503", status=503), 10).retry_in_s or 0) <= 30.0  # the capped backoff


def test_a_bug_is_retried_like_a_transient_error_then_stops_as_internal_error() -> None:
    assert outcomes(KeyError("version"), 3) == [(True, None), (True, None), (False, "internal_error")]
    final = decide(KeyError("version"), 2)
    assert (final.kind, final.status, final.attempts) == (ErrorKind.BUG, SyncStatus.ERROR_SYNC, 3)
    assert decide(KeyError("version"), 7).dead_letter_reason == "internal_error"  # a replay gets one attempt


def test_a_bug_while_polling_is_no_poll_to_repeat() -> None:
    failure = decide(AssertionError(), 0, polling=True)
    assert (failure.status, failure.attempts, failure.message) == (SyncStatus.ERROR_SYNC, 1, "AssertionError")
