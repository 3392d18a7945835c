"""The emulator's `/_emulator` controls hand out no secrets and reach nothing but loopback (issue 19): recorded
secret values are redacted unless a test opts in, bots' proxy targets are loopback only, and the emulator refuses to
bind beyond loopback without `--allow-remote`."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
from collections.abc import AsyncIterator

import httpx
import pytest

from config_sync_service.devtools.procs import free_port, kill_group
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator_control import EmulatorControl
from tests.helpers import config_sync

PRIVATE = {"Authorization": f"Bearer {DEFAULT_PRIVATE_KEY}"}
CONFIG_SYNC = [sys.executable, "-m", "config_sync_service.cli"]


@pytest.fixture
async def http(emulator: EmulatorServer) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=emulator.url, timeout=10) as client:
        yield client


async def _write_secrets(http: httpx.AsyncClient) -> None:
    for body in (
        {"secrets": [{"secretKey": "TOKEN", "secretValue": "value-one"}, {"secretKey": "PIN", "secretValue": "42"}]},
        {"name": "ctl-set", "isImagePullSecret": False, "secretKey": "CLI_KEY", "secretValue": "value-two"},
    ):
        assert (await http.put("/v1/secrets/ctl-set", headers=PRIVATE, json=body)).status_code == 202
    pull = {"isImagePullSecret": True, "host": "https://index.docker.io/v1/", "secretValue": "dXNlcjp0b2tlbg=="}
    assert (await http.put("/v1/secrets/ctl-pull", headers=PRIVATE, json=pull)).status_code == 202


async def test_secret_values_are_redacted_unless_a_test_opts_in(
    http: httpx.AsyncClient, control: EmulatorControl, emulator: EmulatorServer
) -> None:
    await _write_secrets(http)
    shown = [str(await control.calls()), str((await http.get("/_emulator/calls")).json())]
    shown.append(str(await control.secret_values("ctl-set")) + str(await control.secret_values("ctl-pull")))
    for text in shown:
        for value in ("value-one", "'42'", "value-two", "dXNlcjp0b2tlbg=="):
            assert value not in text, (value, text)
    assert await control.secret_values("ctl-set") == {
        "TOKEN": "[REDACTED]",
        "PIN": "[REDACTED]",
        "CLI_KEY": "[REDACTED]",
    }
    [first, *_] = await control.calls(op="upsertSecretSet")
    assert first["body"]["secrets"][0] == {"secretKey": "TOKEN", "secretValue": "[REDACTED]"}

    emulator.state.config.reveal_secret_values = True  # what the `reveal_secret_values` fixture does
    assert await control.secret_values("ctl-set") == {"TOKEN": "value-one", "PIN": "42", "CLI_KEY": "value-two"}
    [first, *_] = await control.calls(op="upsertSecretSet")
    assert first["body"]["secrets"][0] == {"secretKey": "TOKEN", "secretValue": "value-one"}
    await http.put("/_emulator/settings", json={"reveal_secret_values": 0.0})  # not a setting the API can change
    assert emulator.state.config.reveal_secret_values is True


@pytest.mark.parametrize(
    "url",
    [
        "http://169.254.169.254/latest/meta-data/",  # a cloud metadata service
        "http://10.0.0.7:8080",
        "http://192.168.1.1",
        "http://0.0.0.0:80",
        "http://example.com",
        "http://localhost.example.com",
        "http://127.0.0.1@169.254.169.254/",  # userinfo that looks like loopback
        "http://[fd00::1]:80",
        "file:///etc/passwd",
        "ftp://127.0.0.1/",
        "not a url",
    ],
)
async def test_a_bot_target_beyond_loopback_is_refused(
    http: httpx.AsyncClient, emulator: EmulatorServer, url: str
) -> None:
    answer = await http.put("/_emulator/bots/agent-x", json={"url": url})
    assert answer.status_code == 400, answer.text
    assert "loopback" in answer.json()["error"]
    assert emulator.state.bots == {}


@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:7860", "http://localhost:7860/", "http://[::1]:7860", "https://127.0.0.2"]
)
async def test_a_loopback_bot_target_is_taken(http: httpx.AsyncClient, emulator: EmulatorServer, url: str) -> None:
    answer = await http.put("/_emulator/bots/agent-x", json={"url": url})
    assert answer.status_code == 200 and emulator.state.bots == {"agent-x": url}


@pytest.mark.parametrize("host", ["0.0.0.0", "::", "10.1.2.3", "example.com"])
def test_the_emulator_refuses_to_bind_beyond_loopback(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmulatorServer(host=host)


def test_the_emulator_command_refuses_with_one_line() -> None:
    proc = config_sync("emulator", "--host", "0.0.0.0", "--port", str(free_port()))
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config-sync: the emulator binds to loopback only and 0.0.0.0 is not; pass --allow-remote to bind it anyway "
        "(its controls are unauthenticated)"
    ]


async def test_allow_remote_binds_beyond_loopback() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [*CONFIG_SYNC, "emulator", "--host", "0.0.0.0", "--port", str(port), "--allow-remote"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        async with httpx.AsyncClient(timeout=2) as client:
            while True:
                assert proc.poll() is None, proc.communicate()
                try:
                    answer = await client.get(f"http://127.0.0.1:{port}/_emulator/faults")
                    break
                except httpx.TransportError:
                    assert time.monotonic() < deadline, "the emulator did not start"
                    await asyncio.sleep(0.1)
        assert answer.status_code == 200
    finally:
        kill_group(proc)
