"""Every field of every emulator answer against the reference (pipecat-cloud-api.md §2–§6): names, casing, types,
ISO 8601 timestamps, the query parameters each list takes and the errors they give."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator.test_conformance import create, ready_set

PRIVATE = {"Authorization": f"Bearer {DEFAULT_PRIVATE_KEY}"}
PUBLIC = {"Authorization": f"Bearer {DEFAULT_PUBLIC_KEY}"}
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")  # what the official CLI's format_timestamp parses

SERVICE_DETAILS = {
    "name", "region", "ready", "available", "createdAt", "updatedAt", "desiredDeploymentId", "activeDeploymentId",
    "reconciledDeploymentId", "activeDeploymentReady", "autoScaling", "activeSessionCount", "agentProfile",
    "krispViva", "deployment", "currentRevision", "previousRevision", "conditions",
}  # fmt: skip
DEPLOYMENT = {"id", "serviceId", "createdAt", "updatedAt", "manifest"}
SPEC = {
    "dailyNodeType", "image", "autoScaling", "imagePullSecretName", "envFromSecretNames", "resources",
    "krispModels", "krispViva",
}  # fmt: skip
REVISION = {"deploymentID", "phase", "readyReplicas", "phaseStartedAt", "health"}
HEALTH = {"ready", "state", "restartCount", "replicasStarted"}
LIST_ITEM = {
    "id", "name", "region", "desiredDeploymentId", "activeDeploymentId", "reconciledDeploymentId",
    "organizationId", "createdAt", "updatedAt", "deletedAt",
}  # fmt: skip
SESSION = {
    "sessionId", "serviceId", "organizationId", "deploymentId", "endedAt", "botStartSeconds", "coldStart",
    "completionStatus", "createdAt", "updatedAt",
}  # fmt: skip


@pytest.fixture
async def http(emulator: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    emulator.state.config.deploy_delay_s = 0.0
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        await ready_set(client)
        yield client


async def get(http: httpx.AsyncClient, path: str, headers: dict[str, str] = PRIVATE, **params: Any) -> Any:
    answer = await http.get(path, headers=headers, params=params)
    assert answer.status_code == 200, answer.text
    return answer.json()


def assert_iso(*values: Any) -> None:
    for value in values:
        assert isinstance(value, str) and ISO.match(value), f"{value!r} is no ISO 8601 timestamp with milliseconds"


async def test_service_details_every_field(http: httpx.AsyncClient) -> None:
    created = await create(http, autoScaling={"minAgents": 1, "maxAgents": 3}, agentProfile="agent-2x")
    assert created.status_code == 200
    await http.post("/v1/agents/conf-agent", headers=PRIVATE, json={"image": "repo/bot:2.0", "maxSessionDuration": 600})
    details = await get(http, "/v1/agents/conf-agent")
    assert set(details) == SERVICE_DETAILS and "errors" not in details  # `errors` only when a revision failed
    assert_iso(details["createdAt"], details["updatedAt"])
    assert details["autoScaling"] == {"minReplicas": 1, "maxReplicas": 3} and details["agentProfile"] == "agent-2x"
    assert details["krispViva"] == {"audioFilter": None} and details["activeSessionCount"] == 0
    assert details["activeDeploymentId"] == details["desiredDeploymentId"] == details["reconciledDeploymentId"]
    deployment = details["deployment"]
    assert set(deployment) == DEPLOYMENT and deployment["id"] == details["desiredDeploymentId"]
    assert_iso(deployment["createdAt"], deployment["updatedAt"])
    manifest = deployment["manifest"]
    assert (manifest["apiVersion"], manifest["kind"], set(manifest["metadata"])) == (
        "pipecatcloud.daily.co/v1",
        "PCService",
        {"name", "namespace"},
    )
    spec = manifest["spec"]
    assert set(spec) == SPEC | {"maxSessionDurationSeconds"} and spec["maxSessionDurationSeconds"] == 600
    assert spec["image"] == "repo/bot:2.0" and spec["envFromSecretNames"] == ["conf-set"]
    assert spec["resources"] == {"cpu": "1", "memory": "2Gi"} and spec["dailyNodeType"] == "arm"
    assert spec["krispViva"] == {"audioFilters": None} and spec["krispModels"] == {"enabled": False}
    for revision in (details["currentRevision"], details["previousRevision"]):
        assert set(revision) == REVISION and set(revision["health"]) == HEALTH
        assert_iso(revision["phaseStartedAt"])
    assert details["currentRevision"]["phase"] == "Active" and details["previousRevision"]["phase"] == "Draining"
    assert details["previousRevision"]["deploymentID"] != details["currentRevision"]["deploymentID"]
    assert {c["type"] for c in details["conditions"]} == {"Progressing", "Degraded"}
    assert all(set(c) == {"type", "status", "reason", "message"} for c in details["conditions"])


async def test_default_session_duration_is_absent_from_the_manifest(http: httpx.AsyncClient) -> None:
    spec = (await create(http)).json()["deployment"]["manifest"]["spec"]
    assert set(spec) == SPEC  # no maxSessionDurationSeconds when the default applies
    assert (await create(http, serviceName="conf-other")).json()["previousRevision"] is None


async def test_list_services_fields_region_filter_and_active_deployment(http: httpx.AsyncClient) -> None:
    await create(http)
    listed = (await get(http, "/v1/agents"))["services"]
    assert len(listed) == 1 and set(listed[0]) == LIST_ITEM and listed[0]["deletedAt"] is None
    assert listed[0]["id"] != listed[0]["name"]  # an id of its own, as the deployment's serviceId
    assert_iso(listed[0]["createdAt"], listed[0]["updatedAt"])
    assert (await get(http, "/v1/agents", region="eu-central"))["services"] == []
    with_deployment = (await get(http, "/v1/agents", includeActiveDeployment="true"))["services"][0]
    assert set(with_deployment) == LIST_ITEM | {"deployment"}
    assert with_deployment["deployment"]["serviceId"] == listed[0]["id"]


async def test_not_found_shapes_differ_by_endpoint(http: httpx.AsyncClient) -> None:
    got = await http.get("/v1/agents/nobody", headers=PRIVATE)
    assert got.status_code == 404 and got.json() == {"error": "Not found", "code": "NOT_FOUND"}
    updated = await http.post("/v1/agents/nobody", headers=PRIVATE, json={"image": "repo/bot:1"})
    assert updated.status_code == 404 and updated.json()["error"] == "Service not found"


async def test_logs_fields_iso_timestamps_filters_and_order(http: httpx.AsyncClient) -> None:
    first = (await create(http)).json()["desiredDeploymentId"]
    second = (await http.post("/v1/agents/conf-agent", headers=PRIVATE, json={"forceRedeploy": True})).json()
    session = (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})).json()["sessionId"]
    logs = await get(http, "/v1/agents/conf-agent/logs")
    assert set(logs) == {"total", "logs"} and logs["total"] == {"value": 3, "relation": "eq"}
    assert all(set(line) == {"log", "timestamp", "deploymentId"} for line in logs["logs"])
    assert_iso(*(line["timestamp"] for line in logs["logs"]))
    assert [line["timestamp"] for line in logs["logs"]] == sorted(
        (line["timestamp"] for line in logs["logs"]), reverse=True
    )
    ascending = await get(http, "/v1/agents/conf-agent/logs", order="asc", limit=1)
    assert len(ascending["logs"]) == 1 and ascending["logs"][0]["deploymentId"] == first
    by_deployment = await get(http, "/v1/agents/conf-agent/logs", deploymentId=second["desiredDeploymentId"])
    assert by_deployment["total"]["value"] == 2  # its creation and the session it served
    by_session = await get(http, "/v1/agents/conf-agent/logs", sessionId=session)
    assert [session in line["log"] for line in by_session["logs"]] == [True]
    assert (await get(http, "/v1/agents/conf-agent/logs", query="IMAGE"))["total"]["value"] == 2
    assert (await get(http, "/v1/agents/conf-agent/logs", startTime="4102444800"))["total"]["value"] == 0
    bad = await http.get("/v1/agents/conf-agent/logs", headers=PRIVATE, params={"startTime": "yesterday"})
    assert bad.status_code == 400 and bad.json() == {"error": "Invalid timestamp format", "code": "GENERIC_BAD_REQUEST"}
    assert (await http.get("/v1/agents/nobody/logs", headers=PRIVATE)).status_code == 404


async def test_session_fields_and_filters(http: httpx.AsyncClient) -> None:
    deployment = (await create(http)).json()["desiredDeploymentId"]
    session = (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})).json()["sessionId"]
    listed = await get(http, "/v1/agents/conf-agent/sessions")
    assert set(listed) == {"total_count", "sessions"} and set(listed["sessions"][0]) == SESSION
    item = listed["sessions"][0]
    assert_iso(item["createdAt"], item["updatedAt"])
    assert item["endedAt"] is None and item["completionStatus"] is None and item["deploymentId"] == deployment
    assert (await get(http, "/v1/agents/conf-agent/sessions", deploymentId="other"))["total_count"] == 0
    assert (await get(http, "/v1/agents/conf-agent/sessions", startType="cold"))["total_count"] == 0
    assert (await get(http, "/v1/agents/conf-agent/sessions", startType="warm"))["total_count"] == 1
    bad = await http.get("/v1/agents/conf-agent/sessions", headers=PRIVATE, params={"startType": "tepid"})
    assert bad.status_code == 400 and bad.json()["err"]["name"] == "ZodError"
    assert bad.json()["err"]["issues"][0]["path"] == ["startType"]
    detail = await get(http, f"/v1/agents/conf-agent/sessions/{session}")
    assert set(detail) == SESSION | {"resourceMetrics", "meetingIds"}
    await http.delete(f"/v1/agents/conf-agent/sessions/{session}", headers=PRIVATE)
    ended = await get(http, f"/v1/agents/conf-agent/sessions/{session}")
    assert_iso(ended["endedAt"])
    assert ended["completionStatus"] == "HTTP_COMPLETED"


async def test_secret_regions_and_properties_fields(http: httpx.AsyncClient, emulator: EmulatorServer) -> None:
    listed = (await get(http, "/v1/secrets"))["sets"]
    assert set(listed[0]) == {"name", "type", "region", "status"}
    one = await get(http, "/v1/secrets/conf-set")
    assert set(one) == {"region", "status", "secrets"} and one["secrets"] == [{"fieldName": "A"}]
    regions = (await get(http, "/v1/regions"))["regions"]
    assert all(set(r) == {"code", "display_name"} for r in regions)
    assert await get(http, "/v1/properties") == {"properties": {"defaultRegion": "us-west"}}
    schema = (await get(http, "/v1/properties/schema"))["properties"]["defaultRegion"]
    assert set(schema) == {"type", "description", "default", "currentValue", "readOnly", "availableValues"}
    patched = await http.patch("/v1/properties", headers=PRIVATE, json={"defaultRegion": "eu-central"})
    assert patched.json()["properties"]["defaultRegion"]["currentValue"] == "eu-central"
    assert emulator.state.config.default_region == "eu-central"
    for body, error in (
        ({}, "No properties provided"),
        ({"colour": 1}, "Unknown"),
        ({"defaultRegion": "mars"}, "region"),
    ):
        refused = await http.patch("/v1/properties", headers=PRIVATE, json=body)
        assert refused.status_code == 400 and error in refused.json()["error"]


async def test_start_answers_per_transport(http: httpx.AsyncClient) -> None:
    await create(http, websocketAuth="token")
    plain = (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={})).json()
    assert set(plain) == {"sessionId"}
    daily = (await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={"createDailyRoom": True})).json()
    assert set(daily) == {"sessionId", "dailyRoom", "dailyToken"}
    ws = await http.post("/v1/public/conf-agent/start", headers=PUBLIC, json={"transport": "websocket", "body": {}})
    assert set(ws.json()) == {"sessionId", "token", "wsUrl", "body"}
