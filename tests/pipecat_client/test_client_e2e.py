"""The Pipecat Cloud client against the emulator on a real port: every method, every error class, retries."""

from __future__ import annotations

import asyncio
import io
import time

import pytest

from config_sync_service.core.errors import classify
from config_sync_service.core.logging import configure_logging
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY
from config_sync_service.emulator.server import EmulatorServer
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.pipecat_client.errors import (
    PipecatApiError,
    PipecatAuthError,
    PipecatConflictError,
    PipecatNotFoundError,
    PipecatRateLimitError,
    PipecatServerError,
    PipecatTransportError,
    PipecatValidationError,
)
from config_sync_service.pipecat_client.models import AgentSpec
from tests.emulator_control import EmulatorControl
from tests.helpers import free_port, wait_until

SPEC = AgentSpec(
    service_name="client-test",
    image="dailyco/agent:1.0",
    secret_set="client-test-config",
    agent_profile="agent-1x",
    min_agents=0,
    max_agents=2,
    krisp_viva_audio_filter="tel",
)


def client_for(emulator: EmulatorServer, **kwargs: object) -> PipecatCloudClient:
    options: dict[str, object] = {
        "base_url": emulator.api_url,
        "api_key": DEFAULT_PRIVATE_KEY,
        "public_api_key": DEFAULT_PUBLIC_KEY,
        "read_timeout_s": 5.0,
    }
    return PipecatCloudClient(**(options | kwargs))  # type: ignore[arg-type]


async def provisioned(client: PipecatCloudClient) -> None:
    await client.upsert_secret_set(SPEC.secret_set or "", {"AGENT_CONFIG": "{}", "TOKEN": "s3cret"})
    await client.wait_secret_set_ready(SPEC.secret_set or "", timeout_s=5)
    await client.provision_agent(SPEC)


async def test_agent_lifecycle(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator) as client:
        await provisioned(client)
        status = await client.get_agent_status("client-test")
        assert status.desired_deployment_id and not status.is_deployed
        deployed = await wait_until(lambda: _deployed(client), what="deployment ready")
        assert deployed.revision_phase == "Active" and deployed.reconciled_deployment_id == status.desired_deployment_id

        updated = await client.update_full_config(SPEC, force_redeploy=True)
        assert updated.desired_deployment_id != status.desired_deployment_id
        body = (await control.calls("client-test", op="updateService"))[0]["body"]
        assert body == {
            "image": "dailyco/agent:1.0",
            "secretSet": "client-test-config",
            "agentProfile": "agent-1x",
            "autoScaling": {"minAgents": 0, "maxAgents": 2},
            "krispViva": {"audioFilter": "tel"},
            "forceRedeploy": True,
        }
        create = (await control.calls("client-test", op="createService"))[0]
        assert create["body"]["serviceName"] == "client-test" and create["key_type"] == "private"

        assert await client.deprovision_agent("client-test") is True
        assert await client.deprovision_agent("client-test") is False
        with pytest.raises(PipecatNotFoundError):
            await client.get_agent_status("client-test")


async def _deployed(client: PipecatCloudClient):  # type: ignore[no-untyped-def]
    status = await client.get_agent_status("client-test")
    return status if status.is_deployed else None


async def test_secret_sets_never_read_back(emulator: EmulatorServer) -> None:
    async with client_for(emulator) as client:
        await client.upsert_secret_set("set-one", {"A": "value-a", "B": "value-b"})
        with pytest.raises(PipecatConflictError):  # pending → a deploy would get 409
            await client.wait_secret_set_ready("set-one", timeout_s=0.0)
        info = await client.wait_secret_set_ready("set-one", timeout_s=5)
        assert info.status == "ready" and sorted(info.keys) == ["A", "B"]
        assert "value-a" not in info.model_dump_json()
        assert await client.delete_secret_set("set-one") is True
        assert await client.delete_secret_set("set-one") is False


async def test_sessions_and_context_updates(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator) as client:
        await provisioned(client)
        await wait_until(lambda: _deployed(client), what="deployment ready")
        start = await client._http.post(  # what a caller's app does: config-sync never starts sessions
            "/public/client-test/start",
            json={"createDailyRoom": True, "body": {"caller": "x"}},
            headers={"Authorization": f"Bearer {DEFAULT_PUBLIC_KEY}"},
        )
        started = start.json()
        assert started["sessionId"] and started["dailyRoom"]
        other = await control.add_session("client-test")
        sessions = await client.list_sessions("client-test", status="active")
        assert {s.session_id for s in sessions} == {started["sessionId"], other}
        answer = await client.send_context_update("client-test", other, {"version": 3, "llm_context": {"a": 1}})
        assert answer == {"status": "applied", "version": 3, "mode": "reset"}
        assert await control.session_context_posts(other) == [{"version": 3, "llm_context": {"a": 1}}]
        proxy = (await control.calls("client-test", op="sessionProxy"))[0]
        assert proxy["key_type"] == "public"
        assert await client.stop_session("client-test", other) is True
        assert [s.session_id for s in await client.list_sessions("client-test")] == [started["sessionId"]]
        assert len(await client.list_sessions("client-test", status="ended")) == 1
        with pytest.raises(PipecatNotFoundError):
            await client.send_context_update("client-test", other, {"version": 4})


async def test_sessions_are_paged_until_total_count(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator) as client:
        await provisioned(client)
        for _ in range(130):
            await control.add_session("client-test")
        assert len(await client.list_sessions("client-test")) == 130
        assert len(await control.calls("client-test", op="listSessions")) == 2  # pages of 100


async def test_error_classes_come_from_real_answers(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator, api_key="sk_wrong") as wrong:
        with pytest.raises(PipecatAuthError) as auth:
            await wrong.get_agent_status("x")
        assert auth.value.status == 401 and auth.value.code == "UNAUTHORIZED" and not classify(auth.value).transient
    async with client_for(emulator, api_key=DEFAULT_PUBLIC_KEY) as public_as_private:
        with pytest.raises(PipecatAuthError):
            await public_as_private.get_agent_status("x")
    async with client_for(emulator, attempts=1) as client:
        with pytest.raises(PipecatNotFoundError) as missing:
            await client.get_agent_status("nobody")
        assert str(missing.value) == "404 NOT_FOUND: Not found"  # getService's documented 404
        with pytest.raises(PipecatValidationError) as invalid:
            await client.provision_agent(SPEC.model_copy(update={"image": "no-tag"}))
        assert invalid.value.status == 400 and "tag" in invalid.value.message
        await client.upsert_secret_set("client-test-config", {"A": "1"})
        with pytest.raises(PipecatConflictError) as conflict:
            await client.provision_agent(SPEC)  # the set is still pending
        assert conflict.value.status == 409 and classify(conflict.value).transient
        await control.fail_next("getService", times=1, status=502)
        with pytest.raises(PipecatServerError):
            await client.get_agent_status("nobody")
    async with client_for(emulator, attempts=1) as once:
        await control.fail_next("getService", times=1, status=429)
        with pytest.raises(PipecatRateLimitError) as limited:
            await once.get_agent_status("nobody")
        assert limited.value.retry_after == 1.0 and "Rate limit exceeded" in limited.value.message
    async with client_for(emulator, public_api_key=None) as no_public:
        with pytest.raises(PipecatAuthError, match="PIPECAT_PUBLIC_API_KEY is not configured"):
            await no_public.send_context_update("x", "session", {})


async def test_two_503s_then_success_takes_three_calls(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator, attempts=3) as client:
        await control.fail_next("getService", times=2, status=503)
        with pytest.raises(PipecatNotFoundError):  # the third answer is the real one
            await client.get_agent_status("ghost")
    assert [c["status"] for c in await control.calls("ghost", op="getService")] == [503, 503, 404]


async def test_a_409_is_retried_like_every_transient_error(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator, attempts=3) as client:
        await control.fail_next("getService", times=1, status=409)
        with pytest.raises(PipecatNotFoundError):  # the second answer is the real one
            await client.get_agent_status("busy")
    assert [c["status"] for c in await control.calls("busy", op="getService")] == [409, 404]


async def test_persistent_503s_raise_server_error(emulator: EmulatorServer, control: EmulatorControl) -> None:
    async with client_for(emulator, attempts=3) as client:
        await control.fail_next("getService", times=4, status=503)
        with pytest.raises(PipecatServerError) as failed:
            await client.get_agent_status("ghost")
    assert failed.value.status == 503 and classify(failed.value).transient
    assert len(await control.calls("ghost", op="getService")) == 3  # attempts, then the error


async def test_a_429_holds_the_retry_until_retry_after(emulator: EmulatorServer, control: EmulatorControl) -> None:
    await control.fail_next("getService", times=1, status=429)
    async with client_for(emulator, attempts=3) as client:
        with pytest.raises(PipecatNotFoundError):  # the retry got the real answer
            await client.get_agent_status("ghost")
    first, second = await control.calls("ghost", op="getService")
    assert (first["status"], second["status"]) == (429, 404)
    assert second["time"] - first["time"] >= 0.95  # Retry-After: 1


async def test_429s_until_the_attempts_run_out_raise_rate_limit_error(
    emulator: EmulatorServer, control: EmulatorControl
) -> None:
    await control.set_faults(rate_429={"getService": 1.0}, retry_after_s=1)
    async with client_for(emulator, attempts=2) as client:
        with pytest.raises(PipecatRateLimitError) as limited:
            await client.get_agent_status("ghost")
    assert limited.value.retry_after == 1.0
    assert [c["status"] for c in await control.calls("ghost", op="getService")] == [429, 429]


async def test_hanging_request_times_out_as_transport_error(emulator: EmulatorServer, control: EmulatorControl) -> None:
    await control.set_faults(hang_s={"getService": 3.0})
    async with client_for(emulator, read_timeout_s=0.3, attempts=2) as client:
        started = time.monotonic()
        with pytest.raises(PipecatTransportError) as timed_out:
            await client.get_agent_status("ghost")
    assert timed_out.value.status is None and classify(timed_out.value).transient
    assert "ReadTimeout" in str(timed_out.value)
    assert time.monotonic() - started < 2.5


async def test_connection_refused_is_a_transport_error() -> None:
    async with PipecatCloudClient(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", attempts=2) as client:
        with pytest.raises(PipecatTransportError, match="ConnectError"):
            await client.get_agent_status("x")


async def test_a_request_dropped_after_it_was_sent_may_have_landed_and_a_refused_one_did_not() -> None:
    """Verify after write hangs on this: a POST the server read and then dropped may have changed Pipecat (the
    transport says ReadError); a refused connection sent nothing (ConnectError)."""
    received: list[bytes] = []

    async def read_then_drop(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        received.append(await reader.readuntil(b"\r\n\r\n"))
        writer.transport.abort()  # a reset, as a server that dies mid-request

    server = await asyncio.start_server(read_then_drop, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        async with PipecatCloudClient(base_url=f"http://127.0.0.1:{port}/v1", api_key="k", attempts=1) as client:
            with pytest.raises(PipecatTransportError) as dropped:
                await client.upsert_secret_set("agent-set", {"A": "1"})
    finally:
        server.close()
        await server.wait_closed()
    assert (received and received[0].startswith(b"PUT ")) or received[0].startswith(b"POST ")
    assert dropped.value.may_have_landed and "ReadError" in str(dropped.value)
    async with PipecatCloudClient(base_url=f"http://127.0.0.1:{free_port()}/v1", api_key="k", attempts=1) as client:
        with pytest.raises(PipecatTransportError) as refused:
            await client.upsert_secret_set("agent-set", {"A": "1"})
    assert not refused.value.may_have_landed and "ConnectError" in str(refused.value)


async def test_keys_never_leak(emulator: EmulatorServer, control: EmulatorControl) -> None:
    stream = io.StringIO()
    configure_logging(level="DEBUG", stream=stream, secret_values=[DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY])
    errors: list[PipecatApiError] = []
    async with client_for(emulator, attempts=2) as client:
        await control.fail_next("getService", times=2, status=500)
        for call in (client.get_agent_status("x"), client.send_context_update("x", "bad", {})):
            try:
                await call
            except PipecatApiError as exc:
                errors.append(exc)
        text = repr(client) + stream.getvalue() + "".join(f"{e!s}{e!r}" for e in errors)
    assert len(errors) == 2 and "pipecat.retry" in stream.getvalue()
    assert DEFAULT_PRIVATE_KEY not in text and DEFAULT_PUBLIC_KEY not in text
