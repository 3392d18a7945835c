"""Naming each request's operation, recording it, and injecting faults before the real handler runs."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time

from fastapi import Response
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from config_sync_service.emulator.state import Call, EmulatorState

_OPS: list[tuple[str, re.Pattern[str], str]] = [
    (m, re.compile(p), op)
    for m, p, op in [
        ("POST", r"^/v1/agents$", "createService"),
        ("GET", r"^/v1/agents$", "listServices"),
        ("GET", r"^/v1/agents/(?P<agent>[^/]+)$", "getService"),
        ("POST", r"^/v1/agents/(?P<agent>[^/]+)$", "updateService"),
        ("DELETE", r"^/v1/agents/(?P<agent>[^/]+)$", "deleteService"),
        ("GET", r"^/v1/agents/(?P<agent>[^/]+)/logs$", "getLogs"),
        ("GET", r"^/v1/agents/(?P<agent>[^/]+)/sessions$", "listSessions"),
        ("GET", r"^/v1/agents/(?P<agent>[^/]+)/sessions/[^/]+$", "getSession"),
        ("DELETE", r"^/v1/agents/(?P<agent>[^/]+)/sessions/[^/]+$", "stopSession"),
        ("POST", r"^/v1/public/(?P<agent>[^/]+)/start$", "startSession"),
        ("*", r"^/v1/public/(?P<agent>[^/]+)/sessions/[^/]+/.*$", "sessionProxy"),
        ("GET", r"^/v1/secrets$", "listSecretSets"),
        ("GET", r"^/v1/secrets/(?P<set>[^/]+)$", "getSecretSet"),
        ("PUT", r"^/v1/secrets/(?P<set>[^/]+)$", "upsertSecretSet"),
        ("DELETE", r"^/v1/secrets/(?P<set>[^/]+)$", "deleteSecretSet"),
        ("DELETE", r"^/v1/secrets/(?P<set>[^/]+)/[^/]+$", "deleteSecret"),
        ("GET", r"^/v1/regions$", "listRegions"),
        ("*", r"^/v1/properties(/schema)?$", "properties"),
        ("POST", r"^/v1/organizations/[^/]+/services$", "cli.createService"),
        ("PUT", r"^/v1/organizations/[^/]+/services$", "cli.updateService"),
        ("GET", r"^/v1/organizations/[^/]+/services/(?P<agent>[^/]+)$", "cli.getService"),
        ("DELETE", r"^/v1/organizations/[^/]+/services/(?P<agent>[^/]+)$", "cli.deleteService"),
        ("GET", r"^/v1/organizations/[^/]+/services/(?P<agent>[^/]+)/sessions$", "cli.listSessions"),
        ("*", r"^/v1/organizations/[^/]+/secrets/(?P<set>[^/]+)$", "cli.secretSet"),
        ("*", r"^/v1/organizations/[^/]+/.*$", "cli.other"),
        ("GET", r"^/v1/(users|organizations)$", "cli.whoami"),
    ]
]


def operation(method: str, path: str) -> tuple[str, str | None]:
    """(operation name, agent or secret-set name) of a request; `unknown` for anything else."""
    for m, pattern, op in _OPS:
        match = pattern.match(path)
        if match and m in (method, "*"):
            groups = match.groupdict()
            subject = groups.get("agent") or groups.get("set")
            if subject and op.endswith("SecretSet") and subject.endswith("-config"):
                subject = subject.removesuffix("-config")
            return op, subject
    return "unknown", None


def key_type(state: EmulatorState, header: str | None) -> str:
    scheme, _, token = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not token:
        return "none"
    if token in state.config.private_keys:
        return "private"
    if token in state.config.public_keys:
        return "public"
    return "pat" if token.startswith("pcc_pat_") else "invalid"


class FaultInjector:
    """Decides, per request, whether to delay, fail, throttle or hang (seeded for repeatability)."""

    def __init__(self, state: EmulatorState) -> None:
        self.state = state
        self.random = random.Random(state.config.faults.seed)
        self._tokens = 0.0
        self._refilled = time.monotonic()

    def reseed(self) -> None:
        self.random = random.Random(self.state.config.faults.seed)
        limit = self.state.config.faults.rate_limit_per_s
        self._tokens = limit or 0.0
        self._refilled = time.monotonic()

    def _rate_limited(self) -> bool:
        limit = self.state.config.faults.rate_limit_per_s
        if limit is None:
            return False
        now = time.monotonic()
        self._tokens = min(limit, self._tokens + (now - self._refilled) * limit)
        self._refilled = now
        if self._tokens < 1:
            return True
        self._tokens -= 1
        return False

    def _fraction(self, table: dict[str, float], op: str) -> float:
        return table.get(op, table.get("*", 0.0))

    async def before(self, op: str, body: bytes = b"") -> Response | None:
        faults = self.state.config.faults
        delay = faults.latency_ms / 1000 + self.random.uniform(0, faults.latency_jitter_ms / 1000)
        delay += faults.op_latency_s.get(op, faults.op_latency_s.get("*", 0.0))
        with self.state.lock:
            held = faults.delay_next.get(op)
            delay += held.pop(0) if held else 0.0
        if delay > 0:
            await asyncio.sleep(delay)
        hang = faults.hang_s.get(op, faults.hang_s.get("*", 0.0))
        if hang > 0:
            await asyncio.sleep(hang)
        with self.state.lock:
            queued = faults.fail_next.get(op)
            forced = queued.pop(0) if queued else None
        if forced is not None:
            return _fault_response(forced, faults.retry_after_s, echo=body if faults.echo_request else None)
        if self._rate_limited():
            return _fault_response(429, faults.retry_after_s)
        if self.random.random() < self._fraction(faults.rate_429, op):
            return _fault_response(429, faults.retry_after_s)
        if self.random.random() < self._fraction(faults.error_rate, op):
            return _fault_response(self.random.choice(faults.error_statuses), faults.retry_after_s)
        return None


def _fault_response(status: int, retry_after: int, *, echo: bytes | None = None) -> Response:
    if status == 429:
        return JSONResponse(
            {"status": 429, "code": "429", "message": "Rate limit exceeded. Please try again later"},
            status_code=429,
            headers={"Retry-After": str(retry_after)},
        )
    if status >= 500:
        return JSONResponse({"error": "Internal Server Error", "code": str(status)}, status_code=status)
    codes = {400: "GENERIC_BAD_REQUEST", 401: "UNAUTHORIZED", 404: "NOT_FOUND", 409: "CONFLICT"}
    error = "Injected fault" if echo is None else f"Invalid request: {echo[:2000].decode('utf-8', 'replace')}"
    return JSONResponse({"error": error, "code": codes.get(status, str(status))}, status_code=status)


class RecordAndInject:
    """Records each API request and injects its faults before the real handler runs.

    Plain ASGI: Starlette's `BaseHTTPMiddleware` runs every request through extra tasks and memory streams,
    which was a fifth of the emulator's CPU under load. `/_emulator` controls are neither recorded nor faulted.
    """

    def __init__(self, app: ASGIApp, state: EmulatorState, injector: FaultInjector) -> None:
        self.app = app
        self.state = state
        self.injector = injector

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path: str = scope.get("path", "")
        if scope["type"] != "http" or path.startswith("/_emulator"):
            await self.app(scope, receive, send)
            return
        method: str = scope["method"]
        op, subject = operation(method, path)
        buffered = await _buffered(receive)
        if buffered is None:  # the client went away before its request was whole: nothing to record or answer
            return
        raw, replay = buffered
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        if (
            op in ("createService", "cli.createService", "cli.updateService")
            and isinstance(body, dict)
            and isinstance(body.get("serviceName"), str)
        ):
            subject = body["serviceName"]
        headers = Headers(scope=scope)
        call = Call(method, path, op, key_type(self.state, headers.get("authorization")), subject, time.time(), body)
        call.user_agent = headers.get("user-agent")
        with self.state.lock:
            self.state.calls.append(call)
        started = time.monotonic()

        async def recording_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                call.status = message["status"]
                call.duration_s = time.monotonic() - started
            await send(message)

        fault = await self.injector.before(op, raw)
        if fault is not None:
            await fault(scope, replay, recording_send)
        else:
            await self.app(scope, replay, recording_send)


async def _buffered(receive: Receive) -> tuple[bytes, Receive] | None:
    """The whole request body, and a `receive` that hands it to the app once (then the connection's own);
    None when the client disconnected first."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw = b"".join(chunks)
    pending = [{"type": "http.request", "body": raw, "more_body": False}]

    async def replay() -> Message:
        return pending.pop() if pending else await receive()

    return raw, replay
