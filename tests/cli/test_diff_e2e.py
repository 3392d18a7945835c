"""`config-sync diff` as an operator runs it: desired beside live, read from the emulator at that moment; exit 0 when
they agree, 1 on differences (an orphan too, with --orphans), 2 when it cannot tell; never a secret value."""

from __future__ import annotations

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory
from config_sync_service.devtools.procs import free_port
from config_sync_service.emulator.server import EmulatorServer
from tests.cli.support import run_cli
from tests.helpers import DEPLOYMENT, make_agent, running_daemon
from tests.processing.observe_support import by_hand, synced

OWN_SECRET = "tw-own-secret-value-77"
SHARED_SECRET = "AKIA-shared-test"  # daemon_settings' AGENT_SECRET_AWS_ACCESS_KEY_ID


async def test_diff_exits_0_1_and_2_shows_the_field_and_never_a_secret(
    daemon_settings: Settings, session_factory: SessionFactory, emulator: EmulatorServer
) -> None:
    settings = daemon_settings.model_copy(update={"self_heal": False})
    agent = await make_agent(session_factory, secrets={"TWILIO_AUTH_TOKEN": OWN_SECRET})
    other = await make_agent(session_factory)
    async with running_daemon(settings):
        await synced(session_factory, agent.id)
        await synced(session_factory, other.id)
    same = await run_cli(settings, "diff")
    assert same.code == 0, same.stderr
    assert "no differences" in same.stdout and agent.pipecat_agent_name in same.stdout

    await by_hand(emulator, "POST", f"/agents/{agent.pipecat_agent_name}", {"image": "dailyco/pipecat-agent:by-hand"})
    changed = await run_cli(settings, "diff")
    assert changed.code == 1, changed.stderr
    marked = [line.split()[1] for line in changed.stdout.splitlines() if line.lstrip().startswith("*")]
    assert sorted(marked) == ["deployment", "image"]  # only the changed agent's, marked
    [image_line] = [line for line in changed.stdout.splitlines() if line.split()[:2] == ["*", "image"]]
    assert "dailyco/pipecat-agent:by-hand" in image_line
    assert str(DEPLOYMENT["image"]) in image_line

    as_json = await run_cli(settings, "diff", str(agent.id), "--json")
    assert as_json.code == 1
    data = as_json.json()
    [one] = data["agents"]
    assert one["health"] == "DRIFTED" and one["sessions"] == []  # no live session
    differing = {f["field"] for f in one["fields"] if f["differs"]}
    assert differing == {"image", "deployment"}
    [keys] = [f for f in one["fields"] if f["field"] == "secret_keys"]
    assert {"AGENT_CONFIG", "TWILIO_AUTH_TOKEN", "AWS_ACCESS_KEY_ID"} <= set(keys["live"])

    untouched = await run_cli(settings, "diff", str(other.id), "--json")
    assert untouched.code == 0 and untouched.json()["differences"] == 0

    for output in (same, changed, as_json, untouched):
        assert OWN_SECRET not in output.stdout + output.stderr
        assert SHARED_SECRET not in output.stdout + output.stderr

    unknown = await run_cli(settings, "diff", "00000000-0000-0000-0000-000000000000")
    assert unknown.code == 2 and "no managed agent" in unknown.stderr
    away = await run_cli(settings, "diff", PIPECAT_API_URL=f"http://127.0.0.1:{free_port()}/v1")
    assert away.code == 2 and "PipecatTransportError" in away.stderr
    assert (await run_cli(settings, "diff", "not-a-uuid")).code == 2


async def test_diff_orphans_lists_an_agent_no_row_names(
    daemon_settings: Settings, session_factory: SessionFactory, emulator: EmulatorServer
) -> None:
    agent = await make_agent(session_factory)
    async with running_daemon(daemon_settings):
        await synced(session_factory, agent.id)
    await by_hand(emulator, "POST", "/agents", {"serviceName": "someone-elses-agent", "image": "other/bot:1"})
    plain = await run_cli(daemon_settings, "diff")
    assert plain.code == 0 and "someone-elses-agent" not in plain.stdout
    orphans = await run_cli(daemon_settings, "diff", "--orphans")
    assert orphans.code == 1
    assert "Orphans" in orphans.stdout and "  someone-elses-agent" in orphans.stdout.splitlines()
    listed = await run_cli(daemon_settings, "diff", "--orphans", "--json")
    assert listed.json()["orphans"] == ["someone-elses-agent"]
