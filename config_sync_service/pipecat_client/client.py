"""The async Pipecat Cloud client: one pooled `httpx.AsyncClient` per process, typed calls, typed errors.

Retries here are short and only for what a moment may fix (`attempts` tries, via tenacity): what `classify()`
calls transient (no answer, 5xx, 409), after backoff; and 429, after its `Retry-After`. Every request waits
for its slot from the pacer (pacing.py), which also holds every request back while a 429's pause lasts, so a
throttled API sees fewer requests, not the same ones again. What still fails is raised as a typed error
(`PipecatRateLimitError(retry_after=…)` for a 429): the processor owns the longer backoff.
The private key authenticates `/agents…` and `/secrets…`; the public key `/public/…`. Keys never
appear in logs, exceptions or `repr`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping
from typing import Any, Literal

import aiohttp
import httpx
from httpx_aiohttp import AiohttpTransport
from pydantic import SecretStr
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.config import Settings
from config_sync_service.core.errors import classify
from config_sync_service.core.fencing import check_claim
from config_sync_service.core.logging import get_logger
from config_sync_service.pipecat_client.errors import (
    PipecatApiError,
    PipecatAuthError,
    PipecatConflictError,
    PipecatNotFoundError,
    PipecatTransportError,
    PipecatValidationError,
    error_for,
)
from config_sync_service.pipecat_client.models import AgentSpec, AgentStatus, SecretSetInfo, SessionInfo
from config_sync_service.pipecat_client.pacing import LocalPacer, Pacer

log = get_logger("config_sync.pipecat_client")
CallHook = Callable[[str, str, float], None]
SESSION_PAGE = 100
RETRY_BASE_S, RETRY_CAP_S = 0.2, 2.0  # the short retries of one request
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)  # failures before a byte was sent


def _retry_wait(state: RetryCallState) -> float:
    """After an answer with a floor (a 429's Retry-After) the pacer already holds the next request until then."""
    failed = state.outcome.exception() if state.outcome else None
    if failed is not None and classify(failed).floor_s is not None:
        return 0.0
    return backoff_delay(state.attempt_number, base_s=RETRY_BASE_S, cap_s=RETRY_CAP_S)


def _secret(value: SecretStr | str | None) -> SecretStr | None:
    return value if isinstance(value, SecretStr) or value is None else SecretStr(value)


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


class _Transport(AiohttpTransport):
    """httpx-aiohttp reports every lost connection as a ConnectTimeout (its error map prefers the base class's
    entry); say what happened, since whether the request may have reached Pipecat depends on it."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        try:
            return await super().handle_async_request(request)
        except httpx.ConnectTimeout as exc:
            cause = exc.__cause__
            if isinstance(cause, (aiohttp.ConnectionTimeoutError, TimeoutError)):
                raise  # no connection in time: nothing was sent
            if isinstance(cause, aiohttp.ClientConnectorError):
                raise httpx.ConnectError(str(exc), request=request) from cause  # refused: nothing was sent
            # dropped or reset once connected (ServerDisconnectedError, ClientOSError): the request may have landed
            raise httpx.ReadError(str(exc), request=request) from cause


class PipecatCloudClient:
    def __init__(
        self,
        *,
        base_url: str,
        api_key: SecretStr | str,
        public_api_key: SecretStr | str | None = None,
        connect_timeout_s: float = 5.0,
        read_timeout_s: float = 20.0,
        attempts: int = 3,
        on_call: CallHook | None = None,
        pacer: Pacer | None = None,
        user_agent: str = "config-sync",
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = _secret(api_key)
        self._public_key = _secret(public_api_key)
        self.attempts = attempts
        self.on_call = on_call
        self.pacer = pacer or LocalPacer()
        timeout = httpx.Timeout(connect=connect_timeout_s, read=read_timeout_s, write=read_timeout_s, pool=5.0)
        # aiohttp under httpx's API: half the client CPU per call of httpx's own transport (README, Performance)
        limits = httpx.Limits(max_connections=50, max_keepalive_connections=20)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=_Transport(limits=limits),
            headers={"User-Agent": user_agent},
        )

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        *,
        on_call: CallHook | None = None,
        pacer: Pacer | None = None,
        user_agent: str = "config-sync",
    ) -> PipecatCloudClient:
        return cls(
            base_url=settings.pipecat_api_base,
            api_key=settings.pipecat_api_key or SecretStr(""),
            public_api_key=settings.pipecat_public_api_key,
            connect_timeout_s=settings.pipecat_connect_timeout_s,
            read_timeout_s=settings.pipecat_read_timeout_s,
            attempts=settings.pipecat_http_attempts,
            on_call=on_call,
            pacer=pacer or LocalPacer(settings.pipecat_max_requests_per_s),
            user_agent=user_agent,
        )

    def __repr__(self) -> str:
        return f"PipecatCloudClient(base_url={self.base_url!r})"

    async def __aenter__(self) -> PipecatCloudClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    # --- transport ---------------------------------------------------------------------------------------
    async def _request(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        public: bool = False,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        retry_conflict: bool = True,
    ) -> Any:
        key = self._public_key if public else self._api_key
        if key is None or not key.get_secret_value():
            kind = "PIPECAT_PUBLIC_API_KEY" if public else "PIPECAT_API_KEY"
            raise PipecatAuthError(f"{kind} is not configured", code="NO_KEY")
        headers = {"Authorization": f"Bearer {key.get_secret_value()}"}
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self.attempts),
            wait=_retry_wait,
            retry=retry_if_exception(
                lambda exc: classify(exc).transient and (retry_conflict or not isinstance(exc, PipecatConflictError))
            ),
            reraise=True,
            before_sleep=lambda state: log.warning(
                "pipecat.retry",
                operation=operation,
                attempt=state.attempt_number,
                error_class=type(state.outcome.exception()).__name__ if state.outcome else None,
            ),
        )
        async for attempt in retrying:
            with attempt:
                return await self._once(operation, method, path, headers=headers, json=json, params=params)
        raise AssertionError("unreachable")  # pragma: no cover

    async def _once(
        self,
        operation: str,
        method: str,
        path: str,
        *,
        headers: dict[str, str],
        json: Any,
        params: Mapping[str, Any] | None,
    ) -> Any:
        await self.pacer.acquire()
        if method != "GET":  # a pass that lost its claim sends nothing that changes Pipecat (core/fencing.py)
            check_claim()
        started = time.monotonic()
        outcome = "error"
        try:
            response = await self._http.request(method, path, headers=headers, json=json, params=params)
            outcome = str(response.status_code)
        except httpx.TransportError as exc:
            outcome = type(exc).__name__
            unanswered = PipecatTransportError(f"{method} {path}: {type(exc).__name__}")
            unanswered.may_have_landed = method != "GET" and not isinstance(exc, _NOT_SENT)
            raise unanswered from None
        finally:
            if self.on_call is not None:
                self.on_call(operation, outcome, time.monotonic() - started)
        if response.status_code == 204:
            return None
        try:
            body = response.json() if response.content else None
        except ValueError:
            body = None
        if response.is_success:
            return body
        error = error_for(response.status_code, body, _retry_after(response))
        floor_s = classify(error).floor_s
        if floor_s is not None:  # the server asked every caller to wait: so does every worker and pod
            await self.pacer.pause(floor_s)
        raise error

    # --- agents ------------------------------------------------------------------------------------------
    # `retry_conflict=False`: a 409 here means the secret set is not ready yet; the caller waits for it instead
    async def provision_agent(self, spec: AgentSpec, *, retry_conflict: bool = True) -> AgentStatus:
        body = spec.to_create_body()
        data = await self._request("createService", "POST", "/agents", json=body, retry_conflict=retry_conflict)
        return AgentStatus.from_service(data)

    async def update_full_config(
        self, spec: AgentSpec, *, force_redeploy: bool = True, retry_conflict: bool = True
    ) -> AgentStatus:
        body = spec.to_update_body(force_redeploy=force_redeploy)
        path = f"/agents/{spec.service_name}"
        data = await self._request("updateService", "POST", path, json=body, retry_conflict=retry_conflict)
        return AgentStatus.from_service(data)

    async def list_agents(self) -> list[dict[str, Any]]:
        """Every agent of the organisation with its desired deployment (`GET /agents`, not paginated)."""
        data = await self._request("listServices", "GET", "/agents", params={"includeActiveDeployment": "true"})
        services = data.get("services") if isinstance(data, dict) else None
        return [s for s in services or [] if isinstance(s, dict)]

    async def get_agent(self, name: str) -> dict[str, Any]:
        """An agent's ServiceDetails as Pipecat answers them (observation compares them field by field)."""
        data = await self._request("getService", "GET", f"/agents/{name}")
        return data if isinstance(data, dict) else {}

    async def get_agent_status(self, name: str) -> AgentStatus:
        return AgentStatus.from_service(await self._request("getService", "GET", f"/agents/{name}"))

    async def deprovision_agent(self, name: str) -> bool:
        """True when deleted now, False when it was already gone (404 counts as done)."""
        try:
            await self._request("deleteService", "DELETE", f"/agents/{name}")
        except PipecatNotFoundError:
            return False
        return True

    # --- secrets -----------------------------------------------------------------------------------------
    async def upsert_secret_set(self, name: str, secrets: Mapping[str, str], *, region: str | None = None) -> None:
        body: dict[str, Any] = {"secrets": [{"secretKey": k, "secretValue": v} for k, v in secrets.items()]}
        if region is not None:
            body["region"] = region
        await self._request("upsertSecretSet", "PUT", f"/secrets/{name}", json=body)

    async def get_secret_set(self, name: str) -> SecretSetInfo:
        data = await self._request("getSecretSet", "GET", f"/secrets/{name}")
        keys = [s.get("fieldName") for s in data.get("secrets", []) if isinstance(s, dict)]
        return SecretSetInfo.model_validate({**data, "name": name, "keys": [k for k in keys if k]})

    async def wait_secret_set_ready(self, name: str, *, timeout_s: float, interval_s: float = 0.1) -> SecretSetInfo:
        """Poll until the set is `ready`; `failed` is permanent, still `pending` at the deadline is a conflict."""
        deadline = time.monotonic() + timeout_s
        while True:
            info = await self.get_secret_set(name)
            if info.status == "ready":
                return info
            if info.status == "failed":
                raise PipecatValidationError(
                    f"secret set {name} failed: {info.error_message or 'unknown'}", code="SECRET_SET_FAILED"
                )
            if time.monotonic() >= deadline:
                raise PipecatConflictError(
                    f"secret set {name} still {info.status} after {timeout_s:.0f} s", status=409, code="CONFLICT"
                )
            await asyncio.sleep(interval_s)

    async def delete_secret_set(self, name: str) -> bool:
        try:
            await self._request("deleteSecretSet", "DELETE", f"/secrets/{name}")
        except PipecatNotFoundError:
            return False
        return True

    # --- sessions ----------------------------------------------------------------------------------------
    async def list_sessions(
        self, name: str, *, status: Literal["active", "ended", "all"] = "active"
    ) -> list[SessionInfo]:
        """Every session of the agent in that state, following limit/offset pages; 404 if the agent is unknown."""
        found: list[SessionInfo] = []
        while True:
            params = {"status": status, "limit": SESSION_PAGE, "offset": len(found)}
            data = await self._request("listSessions", "GET", f"/agents/{name}/sessions", params=params)
            page = [SessionInfo.model_validate(s) for s in data.get("sessions", [])]
            found.extend(page)
            if not page or len(found) >= int(data.get("total_count", len(found))):
                return found

    async def stop_session(self, name: str, session_id: str) -> bool:
        try:
            await self._request("stopSession", "DELETE", f"/agents/{name}/sessions/{session_id}")
        except PipecatNotFoundError:
            return False
        return True

    async def send_context_update(self, name: str, session_id: str, context: Mapping[str, Any]) -> dict[str, Any]:
        """`POST /public/{name}/sessions/{id}/context` through the Session API; the bot's answer is returned."""
        data = await self._request(
            "sessionContext", "POST", f"/public/{name}/sessions/{session_id}/context", public=True, json=dict(context)
        )
        return data if isinstance(data, dict) else {"response": data}

    async def get_session_context(self, name: str, session_id: str) -> dict[str, Any]:
        """`GET /public/{name}/sessions/{id}/context`: the bot's account of the configuration version it runs."""
        data = await self._request(
            "sessionContext", "GET", f"/public/{name}/sessions/{session_id}/context", public=True
        )
        return data if isinstance(data, dict) else {"response": data}


__all__ = ["PipecatApiError", "PipecatCloudClient"]
