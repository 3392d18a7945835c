"""The official `pipecatcloud` package (1.4.0) against the emulator: its Session API and its CLI."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from config_sync_service.emulator.config import DEFAULT_PUBLIC_KEY
from config_sync_service.emulator.server import EmulatorServer
from tests.emulator_control import EmulatorControl

CLI = "import sys; from pipecatcloud.cli.entry_point import entrypoint_cli_typer as app; sys.argv[0] = 'pcc'; app()"


@pytest.fixture
def pcc_env(emulator: EmulatorServer, tmp_path: Path) -> dict[str, str]:
    """A logged-in CLI (a PAT for the emulator's organisation) in a throwaway HOME."""
    config = tmp_path / "pipecatcloud.toml"
    config.write_text('token = "pcc_pat_emulator"\norg = "emulator-org"\n')
    config.chmod(0o600)
    return {
        "PATH": os.environ["PATH"],
        "HOME": str(tmp_path),
        "PIPECAT_CONFIG_PATH": str(config),
        "PIPECAT_API_HOST": emulator.url,
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }


def pcc(env: dict[str, str], *args: str) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", CLI, *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert proc.returncode == 0, f"pcc {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
    return proc.stdout + proc.stderr


async def test_sdk_session_start_uses_the_public_start_path(
    emulator: EmulatorServer, control: EmulatorControl, monkeypatch: pytest.MonkeyPatch
) -> None:
    from pipecatcloud.exception import AgentStartError
    from pipecatcloud.session import Session, SessionParams

    emulator.state.config.deploy_delay_s = 0.0
    monkeypatch.setenv("PIPECAT_API_HOST", emulator.url)
    with emulator.state.lock:
        emulator.state.secret_sets.clear()
    from config_sync_service.emulator.state import Service

    with emulator.state.lock:
        service = Service(name="sdk-agent", region="us-west", spec={"image": "repo/bot:1"})
        emulator.state.new_deployment(service, "repo/bot:1")
        emulator.state.services["sdk-agent"] = service

    session = Session("sdk-agent", DEFAULT_PUBLIC_KEY, SessionParams(data={"caller": "Ada"}, use_daily=True))
    answer = await session.start()  # type: ignore[no-untyped-call]
    assert answer["sessionId"] in await control.active_sessions("sdk-agent")
    assert answer["dailyRoom"].startswith("https://")
    call = (await control.calls("sdk-agent", op="startSession"))[0]
    assert (call["method"], call["path"], call["key_type"], call["status"]) == (
        "POST",
        "/v1/public/sdk-agent/start",
        "public",
        200,
    )
    assert call["body"] == {"createDailyRoom": True, "body": {"caller": "Ada"}}

    with pytest.raises(AgentStartError) as refused:  # a private-key-shaped token is not a public key
        await Session("sdk-agent", "sk_wrong", SessionParams()).start()  # type: ignore[no-untyped-call]
    assert refused.value.error_code == "UNAUTHORIZED"


def test_cli_deploys_inspects_and_deletes_an_agent(pcc_env: dict[str, str], emulator: EmulatorServer) -> None:
    emulator.state.config.deploy_delay_s = 0.0
    emulator.state.config.secret_ready_delay_s = 0.0
    assert "created successfully" in pcc(
        pcc_env, "secrets", "set", "cli-set", "API_TOKEN=abc123", "REGION=eu", "--skip"
    )
    listing = pcc(pcc_env, "secrets", "list")
    assert "cli-set" in listing and "ready" in listing
    assert sorted(emulator.state.secret_sets["cli-set"].values) == ["API_TOKEN", "REGION"]

    deployed = pcc(
        pcc_env,
        "deploy",
        "cli-agent",
        "dailyco/agent:1.0",
        "--secrets",
        "cli-set",
        "--no-credentials",
        "--yes",
        "--region",
        "us-west",
        "--min-agents",
        "1",
        "--max-agents",
        "3",
    )
    assert "is ready" in deployed
    service = emulator.state.services["cli-agent"]
    assert service.spec["secretSet"] == "cli-set" and service.spec["autoScaling"] == {"minAgents": 1, "maxAgents": 3}

    pcc(
        pcc_env,
        "deploy",
        "cli-agent",
        "dailyco/agent:1.1",
        "--secrets",
        "cli-set",
        "--no-credentials",
        "--yes",
        "--force",
    )
    assert [d.image for d in service.deployments] == ["dailyco/agent:1.0", "dailyco/agent:1.1"]
    ops = [c.op for c in emulator.state.calls]
    assert "cli.createService" in ops and "cli.updateService" in ops

    assert "cli-agent" in pcc(pcc_env, "agent", "list")
    status = pcc(pcc_env, "agent", "status", "cli-agent")
    assert "Active" in status and "dailyco/agent:1.1" in status

    pcc(pcc_env, "secrets", "unset", "cli-set", "REGION", "--skip")
    assert list(emulator.state.secret_sets["cli-set"].values) == ["API_TOKEN"]
    assert "deleted successfully" in pcc(pcc_env, "agent", "delete", "cli-agent", "--force")
    assert "cli-agent" not in emulator.state.services
    pcc(pcc_env, "secrets", "delete", "cli-set", "--skip")
    assert "cli-set" not in emulator.state.secret_sets
    assert {c.key_type for c in emulator.state.calls if c.op.startswith("cli.")} == {"pat"}


def test_cli_agent_logs_and_deployments_read_iso_timestamps(pcc_env: dict[str, str], emulator: EmulatorServer) -> None:
    """`pipecat cloud agent logs` parses each line's timestamp as ISO 8601 (it crashed on numbers)."""
    emulator.state.config.deploy_delay_s = 0.0
    emulator.state.config.secret_ready_delay_s = 0.0
    pcc(pcc_env, "secrets", "set", "logs-set", "API_TOKEN=abc123", "--skip")
    deploy = ("deploy", "logs-agent", "--secrets", "logs-set", "--no-credentials", "--yes", "--force")
    pcc(pcc_env, *deploy[:2], "dailyco/agent:1.0", *deploy[2:])
    pcc(pcc_env, *deploy[:2], "dailyco/agent:1.1", *deploy[2:])
    service = emulator.state.services["logs-agent"]
    first, second = (d.id for d in service.deployments)

    logs = pcc(pcc_env, "agent", "logs", "logs-agent").splitlines()
    lines = [line for line in logs if "created with image" in line]
    assert len(lines) == 2 and "dailyco/agent:1.1" in lines[0]  # newest first
    for line in lines:  # the CLI's own rendering of a parsed timestamp: "YYYY-MM-DD HH:MM:SS"
        assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d ", line), line
    only_first = pcc(pcc_env, "agent", "logs", "logs-agent", "--deployment", first)
    assert "dailyco/agent:1.0" in only_first and "dailyco/agent:1.1" not in only_first
    as_json = pcc(pcc_env, "agent", "logs", "logs-agent", "--format", "JSON", "--limit", "1")
    line = json.loads(next(x for x in as_json.splitlines() if x.startswith("{")))
    assert re.match(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d$", line["timestamp"]) and second in line["log"]

    deployments = pcc(pcc_env, "agent", "deployments", "logs-agent")
    assert first[:8] in deployments and second[:8] in deployments
    assert re.search(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", deployments)
