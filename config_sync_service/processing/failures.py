"""What a failed pass leads to (DESIGN §5, §14): the status write, when to try again, and whether to dead-letter.

The kind of the error is `core.errors.classify()`'s answer. Every failure is `ERROR_SYNC` (`ERROR_DEPROVISIONING`
for a deletion) and counts one attempt of the agent's streak at its version (a new version starts a new one):
- permanent (a refused request, an invalid configuration, a failed deployment) → a dead letter with its reason,
  no retry until a new version or a replay;
- transient → retry with capped backoff, never sooner than its floor (`Retry-After`); at `RETRY_MAX_ATTEMPTS`
  a dead letter `retries_exhausted`, and the retries go on at the capped backoff: an outage ends, and the agent
  converges then without anyone replaying it;
- a bug (nothing classified it) → retried like a transient error (it may be one nobody classified), and at
  `RETRY_MAX_ATTEMPTS` it ends like a permanent one, dead letter `internal_error`: the same code on the same rows
  fails the same way, so retrying further would only loop.
A transient error while polling keeps the agent `DEPLOYING`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.errors import ClassifiedError, ErrorKind, classify
from config_sync_service.core.redaction import excerpt
from config_sync_service.db.models import SyncStatus, utcnow
from config_sync_service.pipecat_client.models import AgentStatus
from config_sync_service.processing.config import RetryPolicy
from config_sync_service.processing.retry_budget import RetryBudget


class DeploymentFailedError(ClassifiedError):
    """Pipecat accepted the deployment, but it failed or never became ready: permanent until a new version.

    `reason` is the dead-letter reason: `deployment_failed` or `deployment_timeout`.
    """

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def deployment_failed(status: AgentStatus) -> DeploymentFailedError:
    detail = "; ".join(status.errors) or f"revision phase {status.revision_phase}"
    return DeploymentFailedError(
        f"deployment {status.desired_deployment_id} failed: {detail}", reason="deployment_failed"
    )


def deployment_timed_out(status: AgentStatus, timeout_s: float) -> DeploymentFailedError:
    return DeploymentFailedError(
        f"deployment {status.desired_deployment_id} not ready after {timeout_s:.0f} s (phase {status.revision_phase})",
        reason="deployment_timeout",
    )


@dataclass(frozen=True, slots=True)
class Failure:
    """The decision about one failed pass."""

    error_class: str
    message: str
    attempts: int
    kind: ErrorKind
    retry_in_s: float | None  # None: no retry until the configuration changes (or a replay)
    status: SyncStatus | None  # the status to write; None keeps the row as it is (a poll that will be retried)
    dead_letter_reason: str | None  # set when the failure goes to the dead-letter list

    @property
    def transient(self) -> bool:
        return self.kind is ErrorKind.TRANSIENT

    @property
    def retried(self) -> bool:
        """The agent will be tried again by itself (not only by a new version or a replay)."""
        return self.retry_in_s is not None

    @property
    def write_fields(self) -> dict[str, object]:
        """The sync columns of the failure write. What runs on Pipecat after a failure is uncertain: the applied
        hashes are forgotten, so that a retry is a full update."""
        retry_at = utcnow() + timedelta(seconds=self.retry_in_s) if self.retry_in_s is not None else None
        return {
            "error_message": self.message,
            "error_class": self.error_class,
            "attempts": self.attempts,
            "next_retry_at": retry_at,
            "applied_deployment_hash": None,
            "applied_context_hash": None,
        }


def decide(
    exc: Exception,
    *,
    attempts_so_far: int,
    polling: bool,
    deprovisioning: bool,
    retry: RetryPolicy,
    poll_interval_s: float,
    budget: RetryBudget,
) -> Failure:
    """Sort one error by what should happen next; `attempts_so_far`: the agent's failed attempts at this version."""
    error_class = type(exc).__name__
    message = excerpt(str(exc) or error_class, 2000)  # `assert x` raises with no message: name it at least
    verdict = classify(exc)
    if polling and verdict.transient:
        # the deployment itself is fine as far as we know: keep DEPLOYING and ask again later
        poll_in = backoff_delay(1, base_s=poll_interval_s, cap_s=retry.max_delay_s, floor_s=verdict.floor_s)
        return Failure(error_class, message, attempts_so_far, verdict.kind, poll_in, None, None)
    attempts = attempts_so_far + 1
    status = SyncStatus.ERROR_DEPROVISIONING if deprovisioning else SyncStatus.ERROR_SYNC
    if verdict.kind is ErrorKind.PERMANENT:
        reason = exc.reason if isinstance(exc, ClassifiedError) else "permanent_error"
        return Failure(error_class, message, attempts, verdict.kind, None, status, reason)
    if verdict.kind is ErrorKind.BUG and attempts >= retry.max_attempts:
        return Failure(error_class, message, attempts, verdict.kind, None, status, "internal_error")
    delay = backoff_delay(attempts, base_s=retry.base_delay_s, cap_s=retry.max_delay_s, floor_s=verdict.floor_s)
    exhausted = "retries_exhausted" if attempts == retry.max_attempts else None
    return Failure(error_class, message, attempts, verdict.kind, max(delay, budget.reserve()), status, exhausted)
