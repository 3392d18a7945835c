"""The emulator against the reference (pipecat-cloud-api.md), one rule per test, over real HTTP."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY
from config_sync_service.emulator.server import EmulatorServer

PRIVATE = {"Authorization": f"Bearer {DEFAULT_PRIVATE_KEY}"}
PUBLIC = {"Authorization": f"Bearer {DEFAULT_PUBLIC_KEY}"}


@pytest.fixture
async def http(emulator: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        yield client


async def ready_set(http: httpx.AsyncClient, name: str = "conf-set") -> None:
    put = await http.put(
        f"/v1/secrets/{name}", headers=PRIVATE, json={"secrets": [{"secretKey": "A", "secretValue": "v"}]}
    )
    assert put.status_code == 202 and put.json() == {"status": "OK", "region": "us-west"}
    while (await http.get(f"/v1/secrets/{name}", headers=PRIVATE)).json()["status"] != "ready":
        await asyncio.sleep(0.02)


async def create(http: httpx.AsyncClient, name: str = "conf-agent", **body: Any) -> httpx.Response:
    payload = {"serviceName": name, "image": "repo/bot:1.0", "secretSet": "conf-set"} | body
    return await http.post("/v1/agents", headers=PRIVATE, json=payload)


async def test_secret_set_is_pending_then_ready_and_a_deploy_before_is_409(http: httpx.AsyncClient) -> None:
    await http.put("/v1/secrets/conf-set", headers=PRIVATE, json={"secrets": [{"secretKey": "A", "secretValue": "v"}]})
    assert (await http.get("/v1/secrets/conf-set", headers=PRIVATE)).json()["status"] == "pending"
    early = await create(http)
    assert early.status_code == 409 and early.json()["code"] == "CONFLICT" and "error" in early.json()
    await ready_set(http)
    assert (await create(http)).status_code == 200


async def test_secret_values_are_never_read_back(http: httpx.AsyncClient) -> None:
    await ready_set(http)
    one = (await http.get("/v1/secrets/conf-set", headers=PRIVATE)).json()
    assert one["secrets"] == [{"fieldName": "A"}] and "v" not in str(one["secrets"])
    listed = (await http.get("/v1/secrets", headers=PRIVATE)).json()
    assert listed == {"sets": [{"name": "conf-set", "type": "secret", "region": "us-west", "status": "ready"}]}
    bad = await http.put(
        "/v1/secrets/X_bad", headers=PRIVATE, json={"secrets": [{"secretKey": "A", "secretValue": "v"}]}
    )
    assert bad.status_code == 400 and bad.json()["code"] == "GENERIC_BAD_REQUEST"
    missing = await http.get("/v1/secrets/none-such", headers=PRIVATE)
    assert missing.status_code == 404 and missing.json() == {"error": "Set not found", "code": "NOT_FOUND"}


async def test_deployment_lifecycle_creating_validating_active(
    http: httpx.AsyncClient, emulator: EmulatorServer
) -> None:
    emulator.state.config.deploy_delay_s = 0.6
    await ready_set(http)
    created = (await create(http, autoScaling={"minAgents": 1, "maxAgents": 4})).json()
    assert created["currentRevision"]["phase"] == "Creating" and created["ready"] is False
    assert created["reconciledDeploymentId"] is None and created["desiredDeploymentId"]
    assert created["autoScaling"] == {"minReplicas": 1, "maxReplicas": 4}  # echoed as replicas
    assert "deploymentID" in created["currentRevision"]  # capital ID
    phases = set()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        details = (await http.get("/v1/agents/conf-agent", headers=PRIVATE)).json()
        phases.add(details["currentRevision"]["phase"])
        if details["ready"]:
            break
        await asyncio.sleep(0.05)
    assert {"Creating", "Validating", "Active"} <= phases
    assert details["reconciledDeploymentId"] == details["desiredDeploymentId"] and details["available"]
    assert "body" not in details  # the documented path is unwrapped


async def test_force_redeploy_makes_a_new_deployment_and_identical_config_warns(http: httpx.AsyncClient) -> None:
    await ready_set(http)
    first = (await create(http)).json()["desiredDeploymentId"]
    same = (await http.post("/v1/agents/conf-agent", headers=PRIVATE, json={"image": "repo/bot:1.0"})).json()
    assert same["desiredDeploymentId"] == first and "warning" in same
    forced = (await http.post("/v1/agents/conf-agent", headers=PRIVATE, json={"forceRedeploy": True})).json()
    assert forced["desiredDeploymentId"] != first
    partial = (await http.post("/v1/agents/conf-agent", headers=PRIVATE, json={"maxSessionDuration": 300})).json()
    assert partial["deployment"]["manifest"]["spec"]["maxSessionDurationSeconds"] == 300
    assert partial["deployment"]["manifest"]["spec"]["image"] == "repo/bot:1.0"  # omitted fields kept


async def test_missing_image_fails_with_errors(http: httpx.AsyncClient, emulator: EmulatorServer) -> None:
    emulator.state.config.deploy_delay_s = 0.1
    await ready_set(http)
    await create(http, image="repo/bot:missing")
    await asyncio.sleep(0.15)
    details = (await http.get("/v1/agents/conf-agent", headers=PRIVATE)).json()
    assert details["currentRevision"]["phase"] == "Failed" and details["ready"] is False
    assert details["errors"][0]["code"] == "PCC_IMAGE_NOT_FOUND"


@pytest.mark.parametrize(
    ("body", "status", "fragment"),
    [
        ({"serviceName": "Bad_Name"}, 400, "serviceName"),
        ({"serviceName": "a" * 55}, 400, "serviceName"),
        ({"image": "repo/bot"}, 400, "tag"),
        ({"image": None, "buildId": None}, 400, "Exactly one"),
        ({"secretSet": "nope"}, 404, "not found"),
        ({"autoScaling": {"minAgents": 3, "maxAgents": 2}}, 400, "autoScaling"),
        ({"maxSessionDuration": 30}, 400, "maxSessionDuration"),
    ],
)
async def test_create_validation(http: httpx.AsyncClient, body: dict[str, Any], status: int, fragment: str) -> None:
    await ready_set(http)
    payload = {"serviceName": "conf-agent", "image": "repo/bot:1.0", "secretSet": "conf-set"} | body
    payload = {k: v for k, v in payload.items() if v is not None}
    answer = await http.post("/v1/agents", headers=PRIVATE, json=payload)
    assert answer.status_code == status and set(answer.json()) == {"error", "code"}
    assert fragment in answer.json()["error"]


async def test_existing_agent_is_a_400_exists(http: httpx.AsyncClient) -> None:
    await ready_set(http)
    await create(http)
    again = await create(http)
    assert again.status_code == 400 and "exists" in again.json()["error"]


async def test_key_types_are_checked(http: httpx.AsyncClient) -> None:
    assert (await http.get("/v1/agents", headers=PUBLIC)).status_code == 401
    assert (await http.get("/v1/agents")).json() == {"error": "Unauthorized", "code": "UNAUTHORIZED"}
    assert (await http.post("/v1/public/x/start", headers=PRIVATE, json={})).status_code == 401
    assert (await http.post("/v1/public/x/start", json={})).json()["code"] == "PCC-1002"
    unknown = await http.get("/v1/nowhere", headers=PRIVATE)
    assert unknown.status_code == 404 and unknown.json() == {"error": "API endpoint not found", "code": "404"}


async def test_sessions_casing_paging_and_stop(http: httpx.AsyncClient, emulator: EmulatorServer) -> None:
    emulator.state.config.deploy_delay_s = 0.0
    await ready_set(http)
    await create(http)
    ids = [
        (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})).json()["sessionId"] for _ in range(3)
    ]
    page = (await http.get("/v1/agents/conf-agent/sessions?status=active&limit=2", headers=PRIVATE)).json()
    assert page["total_count"] == 3 and len(page["sessions"]) == 2  # snake_case total_count
    assert set(page["sessions"][0]) >= {"sessionId", "serviceId", "deploymentId", "endedAt", "createdAt"}
    stopped = (await http.delete(f"/v1/agents/conf-agent/sessions/{ids[0]}", headers=PRIVATE)).json()
    assert stopped == {"status": "terminated", "session_id": ids[0]}  # snake_case session_id
    ended = (await http.get("/v1/agents/conf-agent/sessions?status=ended", headers=PRIVATE)).json()
    assert [s["sessionId"] for s in ended["sessions"]] == [ids[0]] and ended["sessions"][0]["endedAt"]
    assert (await http.delete("/v1/agents/conf-agent/sessions/not-a-uuid", headers=PRIVATE)).status_code == 400
    assert (await http.get("/v1/agents/conf-agent/sessions?status=weird", headers=PRIVATE)).status_code == 400
    assert (await http.delete("/v1/agents/conf-agent", headers=PRIVATE)).json() == {"status": "OK"}
    after = (await http.get("/v1/agents/conf-agent/sessions?status=active", headers=PRIVATE)).json()
    assert after["total_count"] == 2  # deleting an agent does not end its sessions
    assert (await http.delete("/v1/agents/conf-agent", headers=PRIVATE)).status_code == 404


async def test_start_limits_413_websocket_400_and_capacity_429(
    http: httpx.AsyncClient, emulator: EmulatorServer
) -> None:
    emulator.state.config.deploy_delay_s = 0.0
    await ready_set(http)
    await create(http, autoScaling={"minAgents": 0, "maxAgents": 1})
    too_big = await http.post(
        "/v1/public/conf-agent/start", headers=PUBLIC, json={"transport": "websocket", "body": {"x": "y" * 5000}}
    )
    assert too_big.status_code == 413
    no_auth = await http.post(
        "/v1/public/conf-agent/start", headers=PUBLIC, json={"transport": "websocket", "body": {"x": 1}}
    )
    assert no_auth.status_code == 400
    assert (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})).status_code == 200
    full = await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})
    assert full.status_code == 429 and set(full.json()) == {"status", "code", "message"}  # `message`, not `error`
    assert (await http.post("/v1/public/nobody/start", headers=PUBLIC, json={})).status_code == 404


async def test_session_proxy_answers_as_a_bot_and_404s_ended_sessions(
    http: httpx.AsyncClient, emulator: EmulatorServer
) -> None:
    emulator.state.config.deploy_delay_s = 0.0
    await ready_set(http)
    await create(http)
    session = (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})).json()["sessionId"]
    path = f"/v1/public/conf-agent/sessions/{session}/context"
    assert (await http.post(path, headers=PRIVATE, json={})).status_code == 401
    applied = await http.post(path, headers=PUBLIC, json={"version": 4, "llm_context": {}})
    assert applied.json() == {"status": "applied", "version": 4, "mode": "reset"}  # as agent_bot answers
    stale = await http.post(path, headers=PUBLIC, json={"version": 3, "llm_context": {}})
    assert stale.json() == {"status": "stale", "version": 4}
    assert (await http.get(path, headers=PUBLIC)).json() == {"session_id": session, "version": 4}
    assert (await http.post(path, headers=PUBLIC, json={"version": "x"})).status_code == 422
    await http.delete(f"/v1/agents/conf-agent/sessions/{session}", headers=PRIVATE)
    gone = await http.post(path, headers=PUBLIC, json={"version": 5})
    assert gone.status_code == 404 and gone.json()["error"] == "Invalid or not-yet-ready session_id"


async def test_regions_and_logs_casing(http: httpx.AsyncClient) -> None:
    regions = (await http.get("/v1/regions", headers=PRIVATE)).json()["regions"]
    assert {"code", "display_name"} == set(regions[0])
    await ready_set(http)
    await create(http)
    logs = (await http.get("/v1/agents/conf-agent/logs", headers=PRIVATE)).json()
    assert logs["total"] == {"value": 1, "relation": "eq"} and logs["logs"][0]["deploymentId"]
