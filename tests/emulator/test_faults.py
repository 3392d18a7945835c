"""Fault injection: latency, seeded 5xx, 429 with Retry-After, a rate limit, hangs, fail-next-N."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import httpx
import pytest

from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator_control import EmulatorControl

PRIVATE = {"Authorization": f"Bearer {DEFAULT_PRIVATE_KEY}"}


@pytest.fixture
async def http(emulator: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        yield client


async def statuses(http: httpx.AsyncClient, n: int, path: str = "/v1/agents") -> list[int]:
    return [(await http.get(path, headers=PRIVATE)).status_code for _ in range(n)]


async def test_latency_is_added(http: httpx.AsyncClient, control: EmulatorControl) -> None:
    await control.set_faults(latency_ms=150)
    started = time.monotonic()
    await http.get("/v1/agents", headers=PRIVATE)
    assert time.monotonic() - started >= 0.15
    started = time.monotonic()
    await http.get("/_emulator/calls")  # control endpoints are never faulted
    assert time.monotonic() - started < 0.15


async def test_seeded_5xx_fraction_is_repeatable(http: httpx.AsyncClient, control: EmulatorControl) -> None:
    await control.set_faults(error_rate={"*": 0.5}, seed=7)
    first = await statuses(http, 40)
    await control.set_faults(error_rate={"*": 0.5}, seed=7)
    assert await statuses(http, 40) == first
    failures = [s for s in first if s != 200]
    assert 8 <= len(failures) <= 32 and set(failures) <= {500, 502, 503}


async def test_429_carries_retry_after_and_the_documented_shape(
    http: httpx.AsyncClient, control: EmulatorControl
) -> None:
    await control.set_faults(rate_429={"listServices": 1.0}, retry_after_s=2)
    answer = await http.get("/v1/agents", headers=PRIVATE)
    assert answer.status_code == 429 and answer.headers["Retry-After"] == "2"
    assert answer.json() == {"status": 429, "code": "429", "message": "Rate limit exceeded. Please try again later"}
    assert (await http.get("/v1/secrets", headers=PRIVATE)).status_code == 200  # other operations untouched


async def test_rate_limit_answers_429_beyond_n_per_second(http: httpx.AsyncClient, control: EmulatorControl) -> None:
    await control.set_faults(rate_limit_per_s=5)
    answers = await statuses(http, 12)
    assert answers[:5] == [200] * 5 and answers.count(429) >= 6
    recorded = [c["status"] for c in await control.calls(op="listServices")]
    assert recorded == answers


async def test_hanging_request_can_be_timed_out(http: httpx.AsyncClient, control: EmulatorControl) -> None:
    await control.set_faults(hang_s={"getService": 5.0})
    with pytest.raises(httpx.ReadTimeout):
        await http.get("/v1/agents/x", headers=PRIVATE, timeout=0.3)


async def test_fail_next_n_then_real_answers(http: httpx.AsyncClient, control: EmulatorControl) -> None:
    await control.fail_next("listServices", times=2, status=503)
    assert await statuses(http, 3) == [503, 503, 200]
    faults = (await http.get("/_emulator/faults")).json()
    assert faults["fail_next"] == {"listServices": []}
    await http.post("/_emulator/reset")
    assert (await http.get("/_emulator/calls")).json() == []


async def test_an_injected_error_can_echo_the_request(http: httpx.AsyncClient, control: EmulatorControl) -> None:
    """As a validation error naming the offending value would: what config-sync's redaction is tested against."""
    await control.set_faults(fail_next={"upsertSecretSet": [400, 400]}, echo_request=True)
    body = {"secrets": [{"secretKey": "TOKEN", "secretValue": "echoed-value-1"}]}
    echoed = await http.put("/v1/secrets/echo-set", headers=PRIVATE, json=body)
    assert echoed.status_code == 400 and echoed.json()["code"] == "GENERIC_BAD_REQUEST"
    assert echoed.json()["error"].startswith("Invalid request: ") and "echoed-value-1" in echoed.json()["error"]
    await control.set_faults(echo_request=False)
    plain = await http.put("/v1/secrets/echo-set", headers=PRIVATE, json=body)
    assert plain.status_code == 400 and plain.json()["error"] == "Injected fault"
