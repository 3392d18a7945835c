"""Signed webhooks about a call (Standard Webhooks, with the `standardwebhooks` package), off the audio path.

`send()` only queues: one background task per call delivers the events in order, each to every endpoint that
wants it at once, retrying with exponential backoff (tenacity) within a bound of attempts and time. Each attempt
is signed afresh (`webhook-timestamp` is the attempt's time; receivers refuse old ones) under the same
`webhook-id`, so a receiver can drop the duplicates a retry may cause. Nothing here raises into the call.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
from loguru import logger
from standardwebhooks import Webhook
from tenacity import (
    AsyncRetrying,
    RetryError,
    retry_if_exception,
    stop_after_attempt,
    stop_before_delay,
    wait_exponential_jitter,
)

from agent_bot import logs
from agent_schema import WebhookEndpoint, WebhooksConfig

SIGNING_SECRET_ENV = "WEBHOOK_SIGNING_SECRET"  # noqa: S105 (the secret's name)
SECRET_BYTES = (24, 64)  # what the Standard Webhooks specification asks of a key
USER_AGENT = "config-sync-agent-bot"


@dataclass(frozen=True)
class WebhookPolicy:
    """How hard an event is delivered to one endpoint: at most `attempts` attempts, none started after
    `deadline_s`, each bounded by `timeout_s`, waiting `backoff_s` doubling (with jitter) up to `backoff_max_s`
    between them. Failures that retrying cannot fix (a 4xx other than 408 and 429) are not retried."""

    attempts: int = 5
    timeout_s: float = 5.0
    backoff_s: float = 0.5
    backoff_max_s: float = 8.0
    deadline_s: float = 20.0


@dataclass(frozen=True)
class Delivery:
    event: str
    endpoint: str  # the receiver's host: a URL's path or query may carry a token
    delivered: bool
    attempts: int
    error: str | None = None


class SigningSecretError(ValueError):
    """`WEBHOOK_SIGNING_SECRET` is missing or not a Standard Webhooks secret; says which, never its value."""


class _Refused(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(f"HTTP {status}")
        self.status = status


def signer(environ: Mapping[str, str]) -> Webhook:
    """The Standard Webhooks signer for `WEBHOOK_SIGNING_SECRET` (`whsec_` + base64 of 24 to 64 bytes)."""
    secret = environ.get(SIGNING_SECRET_ENV, "")
    if not secret:
        raise SigningSecretError(f"{SIGNING_SECRET_ENV} is not set in the agent's secrets")
    try:
        key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
    except (binascii.Error, ValueError):
        raise SigningSecretError(f"{SIGNING_SECRET_ENV} is not whsec_ followed by base64") from None
    if not SECRET_BYTES[0] <= len(key) <= SECRET_BYTES[1]:
        raise SigningSecretError(f"{SIGNING_SECRET_ENV} must decode to {SECRET_BYTES[0]} to {SECRET_BYTES[1]} bytes")
    return Webhook(key)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, _Refused):
        return exc.status in (408, 429) or exc.status >= 500
    return isinstance(exc, httpx.TransportError)


def _host(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.hostname}:{parts.port}" if parts.port else str(parts.hostname)


class WebhookSender:
    def __init__(
        self, endpoints: list[WebhookEndpoint], sign: Webhook, policy: WebhookPolicy, log_fields: Mapping[str, object]
    ) -> None:
        self._endpoints = endpoints
        self._sign = sign
        self.policy = policy
        self._fields = dict(log_fields)
        self._queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue()
        self._worker: asyncio.Task[list[Delivery]] | None = None

    @classmethod
    def from_config(
        cls, config: WebhooksConfig | None, environ: Mapping[str, str], policy: WebhookPolicy, fields: dict[str, Any]
    ) -> WebhookSender | None:
        """A sender, or None when no webhooks are configured, or they cannot be signed (logged: never unsigned)."""
        if config is None:
            return None
        try:
            sign = signer(environ)
        except SigningSecretError as exc:
            logger.bind(**fields).error(f"webhooks configured but not sent: {exc}")
            return None
        return cls(config.endpoints, sign, policy, fields)

    def send(self, event: str, data: Mapping[str, Any]) -> None:
        """Queue an event for delivery; returns at once."""
        message = {"type": event, "timestamp": datetime.now(UTC).isoformat(timespec="milliseconds"), "data": data}
        self._queue.put_nowait((event, json.dumps(message, default=str).encode()))
        if self._worker is None:
            self._worker = asyncio.create_task(self._deliver_queued(), name="webhooks")

    async def close(self) -> list[Delivery]:
        """Wait until every queued event has been delivered or given up (each within its bound)."""
        if self._worker is None:
            return []
        self._queue.put_nowait(None)
        return await self._worker

    async def _deliver_queued(self) -> list[Delivery]:
        done: list[Delivery] = []
        async with httpx.AsyncClient(timeout=self.policy.timeout_s, headers={"user-agent": USER_AGENT}) as http:
            while (queued := await self._queue.get()) is not None:
                event, body = queued
                msg_id = f"msg_{uuid.uuid4().hex}"
                wanted = [e for e in self._endpoints if event in e.events]
                done += await asyncio.gather(*(self._deliver(http, e.url, event, msg_id, body) for e in wanted))
        return done

    async def _deliver(self, http: httpx.AsyncClient, url: str, event: str, msg_id: str, body: bytes) -> Delivery:
        attempts, error = 0, None
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.policy.attempts) | stop_before_delay(self.policy.deadline_s),
            wait=wait_exponential_jitter(initial=self.policy.backoff_s, max=self.policy.backoff_max_s),
            retry=retry_if_exception(_retryable),
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts = attempt.retry_state.attempt_number
                    await self._post(http, url, msg_id, body)
        except RetryError as exc:
            error = _describe(exc.last_attempt.exception())
        except Exception as exc:  # not worth retrying (a 4xx, an invalid URL): given up at once
            error = _describe(exc)
        delivery = Delivery(event, _host(url), error is None, attempts, error)
        name, text, level = (
            (logs.WEBHOOK_DELIVERED, "delivered", "INFO")
            if error is None
            else (logs.WEBHOOK_FAILED, f"not delivered after {attempts} attempts: {error}", "WARNING")
        )
        logs.call_event(
            name, f"webhook {event} {text}", self._fields, level=level, webhook_event=event,
            endpoint=delivery.endpoint, attempts=attempts, error=error,
        )  # fmt: skip
        return delivery

    async def _post(self, http: httpx.AsyncClient, url: str, msg_id: str, body: bytes) -> None:
        now = datetime.now(UTC)
        headers = {
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": self._sign.sign(msg_id, now, body),
        }
        response = await http.post(url, content=body, headers=headers)
        if not response.is_success:
            raise _Refused(response.status_code)


def _describe(exc: BaseException | None) -> str:
    """An error without its URL (which may carry a token): the class, or the HTTP status."""
    if isinstance(exc, _Refused):
        return str(exc)
    return type(exc).__name__
