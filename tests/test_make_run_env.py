"""`make run` leaves its settings in `.env` (scripts/dev-env.py), so the operator commands work in a second shell
with nothing exported: each command here runs as a subprocess with an EMPTY environment, in a folder holding only
that `.env`, against real Postgres and Redis. A developer's own `.env` is never overwritten."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import redis.asyncio as aioredis

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from tests.cli.support import CONFIG_SYNC, channel_spy
from tests.helpers import make_agent

ROOT = Path(__file__).resolve().parents[1]
DEV_ENV = ROOT / "scripts" / "dev-env.py"
MARKER = "# written by `make run`"


def write_dev_env(folder: Path, database_url: str, *, port: int = 8765) -> subprocess.CompletedProcess[str]:
    """What `make run` runs before starting the daemon."""
    argv = [sys.executable, str(DEV_ENV), "--database-url", database_url, "--emulator-port", str(port)]
    return subprocess.run(argv, cwd=folder, capture_output=True, text=True, timeout=60, check=False)


def second_shell(folder: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`config-sync ARGS` typed in another shell in `folder`: no variable exported at all."""
    return subprocess.run([CONFIG_SYNC, *args], cwd=folder, env={}, capture_output=True, text=True, timeout=60)


@pytest.fixture
def shell_folder(tmp_path: Path, settings: Settings) -> Path:
    """A folder with make run's `.env`, plus the test's own channel and dead-letter key (shared Redis)."""
    result = write_dev_env(tmp_path, settings.database_url)
    assert result.returncode == 0, result.stderr
    env = tmp_path / ".env"
    with env.open("a") as extra:  # a developer may add lines below make run's; the test isolates its Redis keys
        extra.write(f"UPDATES_CHANNEL={settings.updates_channel}\nDLQ_KEY={settings.dlq_key}\n")
    return tmp_path


def test_the_env_file_holds_make_runs_settings(tmp_path: Path) -> None:
    result = write_dev_env(tmp_path, "postgresql://postgres@127.0.0.1:5432/config_sync_dev", port=9876)
    assert result.returncode == 0 and "make run: wrote .env" in result.stdout
    lines = (tmp_path / ".env").read_text().splitlines()
    assert lines[0].startswith(MARKER)
    assert lines[1:] == [
        "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/config_sync_dev",
        "REDIS_URL=redis://127.0.0.1:6379/0",
        "PIPECAT_API_URL=http://127.0.0.1:9876/v1",
        f"PIPECAT_API_KEY={DEFAULT_PRIVATE_KEY}",
        f"PIPECAT_PUBLIC_API_KEY={DEFAULT_PUBLIC_KEY}",
        "LOG_FORMAT=console",
    ]


async def test_dlq_list_in_a_second_shell(shell_folder: Path, settings: Settings, redis: aioredis.Redis) -> None:
    dlq = DeadLetterQueue(redis, key=settings.dlq_key, max_len=10)
    await dlq.push(DeadLetterEntry.build(b"{not json", reason="not_json", error_class="X", error_message="bad"))

    listed = second_shell(shell_folder, "dlq", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    page = json.loads(listed.stdout)
    assert page["total"] == 1 and [e["reason"] for e in page["entries"]] == ["not_json"]

    # the control: the same command in a folder without the file is the error a new user met
    bare = shell_folder / "elsewhere"
    bare.mkdir()
    failed = second_shell(bare, "dlq", "list")
    assert failed.returncode == 2
    assert failed.stderr.strip() == "config-sync: setting DATABASE_URL is required"


async def test_publish_and_reconcile_in_a_second_shell(
    shell_folder: Path, settings: Settings, session_factory: SessionFactory
) -> None:
    agent = await make_agent(session_factory)  # version 1, never synced: drifted
    async with channel_spy(settings) as spy:
        published = second_shell(shell_folder, "publish", str(agent.id), "1", "CONTEXT_UPDATE")
        assert published.returncode == 0, published.stderr
        reconciled = second_shell(shell_folder, "reconcile", str(agent.id))
        assert reconciled.returncode == 0, reconciled.stderr
        received = [json.loads(m) for m in await spy.wait_for(2)]
    assert received == [
        {"agent_id": str(agent.id), "version": 1, "change_type": "CONTEXT_UPDATE"},
        {"agent_id": str(agent.id), "version": 1, "change_type": "FULL_SYNC"},
    ]


def test_a_developers_own_env_is_never_overwritten(tmp_path: Path) -> None:
    own = "DATABASE_URL=postgresql://me@db.internal:5432/mine\nOPERATOR_TOKEN=my-token\n"
    (tmp_path / ".env").write_text(own)
    result = write_dev_env(tmp_path, "postgresql://postgres@127.0.0.1:5432/config_sync_dev")
    assert result.returncode == 0  # make run goes on
    assert (tmp_path / ".env").read_text() == own
    assert "is your own" in result.stdout
    assert "  DATABASE_URL=postgresql://postgres@127.0.0.1:5432/config_sync_dev\n" in result.stdout


def test_make_runs_own_env_is_rewritten(tmp_path: Path) -> None:
    assert write_dev_env(tmp_path, "postgresql://postgres@127.0.0.1:5432/one").returncode == 0
    assert write_dev_env(tmp_path, "postgresql://postgres@127.0.0.1:5432/two", port=9000).returncode == 0
    text = (tmp_path / ".env").read_text()
    assert "DATABASE_URL=postgresql://postgres@127.0.0.1:5432/two\n" in text and "/one" not in text
    assert "PIPECAT_API_URL=http://127.0.0.1:9000/v1\n" in text
    assert not list(tmp_path.glob("*.partial"))
