"""The one error classification: every failure config-sync meets, and what should happen next."""

from __future__ import annotations

from typing import Any

import pytest
import redis.exceptions
import sqlalchemy.exc

from config_sync_service.core.errors import ErrorKind, Verdict, classify
from config_sync_service.pipecat_client.errors import (
    PipecatAlreadyExistsError,
    PipecatAuthError,
    PipecatConflictError,
    PipecatNotFoundError,
    PipecatRateLimitError,
    PipecatServerError,
    PipecatTransportError,
    PipecatValidationError,
    error_for,
)
from config_sync_service.processing.failures import DeploymentFailedError
from config_sync_service.schemas.agent_config import InvalidConfigurationError

TRANSIENT, PERMANENT, BUG = ErrorKind.TRANSIENT, ErrorKind.PERMANENT, ErrorKind.BUG

# (HTTP status, body, Retry-After) → (error class, verdict)
ANSWERS: list[tuple[int, Any, float | None, type[Exception], Verdict]] = [
    (
        400,
        {"error": "Image must include a tag", "code": "GENERIC_BAD_REQUEST"},
        None,
        PipecatValidationError,
        Verdict(PERMANENT),
    ),
    (
        400,
        {"error": "Service demo already exists", "code": "GENERIC_BAD_REQUEST"},
        None,
        PipecatAlreadyExistsError,
        Verdict(PERMANENT),
    ),
    (401, {"error": "Unauthorized", "code": "UNAUTHORIZED"}, None, PipecatAuthError, Verdict(PERMANENT)),
    (403, None, None, PipecatAuthError, Verdict(PERMANENT)),
    (404, {"error": "Service not found", "code": "404"}, None, PipecatNotFoundError, Verdict(PERMANENT)),
    (409, {"error": "Secret set x is not ready", "code": "CONFLICT"}, None, PipecatConflictError, Verdict(TRANSIENT)),
    (413, {"error": "body is larger than 4096 bytes", "code": "413"}, None, PipecatValidationError, Verdict(PERMANENT)),
    (422, None, None, PipecatValidationError, Verdict(PERMANENT)),
    (
        429,
        {"status": 429, "code": "429", "message": "Rate limit exceeded"},
        3.0,
        PipecatRateLimitError,
        Verdict(TRANSIENT, 3.0),
    ),
    (429, None, None, PipecatRateLimitError, Verdict(TRANSIENT, 1.0)),  # no Retry-After: wait a second anyway
    (500, {"error": "boom", "code": "500"}, None, PipecatServerError, Verdict(TRANSIENT)),
    (502, None, None, PipecatServerError, Verdict(TRANSIENT)),
    (503, None, 5.0, PipecatServerError, Verdict(TRANSIENT, 5.0)),
]


@pytest.mark.parametrize(("status", "body", "retry_after", "cls", "verdict"), ANSWERS)
def test_every_http_answer_has_one_class_and_one_verdict(
    status: int, body: Any, retry_after: float | None, cls: type[Exception], verdict: Verdict
) -> None:
    error = error_for(status, body, retry_after)
    assert type(error) is cls
    assert classify(error) == verdict


OTHERS: list[tuple[BaseException, Verdict]] = [
    (PipecatTransportError("GET /agents/x: ConnectTimeout"), Verdict(TRANSIENT)),
    (PipecatValidationError("secret set x failed: quota", code="SECRET_SET_FAILED"), Verdict(PERMANENT)),
    (PipecatConflictError("secret set x still pending after 30 s", status=409), Verdict(TRANSIENT)),
    (InvalidConfigurationError(["deployment.max_agents: must be at most 50"]), Verdict(PERMANENT)),
    (DeploymentFailedError("deployment d-1 failed: image", reason="deployment_failed"), Verdict(PERMANENT)),
    (ConnectionRefusedError(), Verdict(TRANSIENT)),
    (TimeoutError(), Verdict(TRANSIENT)),
    (OSError("network unreachable"), Verdict(TRANSIENT)),
    (sqlalchemy.exc.OperationalError("SELECT 1", {}, Exception("gone")), Verdict(TRANSIENT)),
    (sqlalchemy.exc.InterfaceError("SELECT 1", {}, Exception("closed")), Verdict(TRANSIENT)),
    (sqlalchemy.exc.TimeoutError("QueuePool limit reached"), Verdict(TRANSIENT)),
    (sqlalchemy.exc.DBAPIError("SELECT 1", {}, Exception("reset"), connection_invalidated=True), Verdict(TRANSIENT)),
    (redis.exceptions.ConnectionError("refused"), Verdict(TRANSIENT)),
    (redis.exceptions.TimeoutError("slow"), Verdict(TRANSIENT)),
    (sqlalchemy.exc.IntegrityError("INSERT", {}, Exception("duplicate")), Verdict(BUG)),
    (KeyError("version"), Verdict(BUG)),
    (AssertionError("unreachable"), Verdict(BUG)),
]


@pytest.mark.parametrize(("error", "verdict"), OTHERS, ids=lambda v: type(v).__name__)
def test_everything_else_is_transient_permanent_or_a_bug(error: BaseException, verdict: Verdict) -> None:
    assert classify(error) == verdict


def test_permanent_errors_name_their_dead_letter_reason() -> None:
    assert InvalidConfigurationError(["llm_context: required"]).reason == "invalid_configuration"
    assert DeploymentFailedError("x", reason="deployment_timeout").reason == "deployment_timeout"
    assert error_for(404, None).reason == "permanent_error"
