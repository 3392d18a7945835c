"""`config-sync schema` and `config-sync validate`, run as the real command in a subprocess with no settings and no
service: the JSON Schema accepts the demo agents and refuses the invalid cases; validate exits 0, 1 or 2."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest

from config_sync_service.devtools.demo import DEMO_AGENTS
from tests.agent_schema.cases import DAEMON_CASES, INVALID, Invalid
from tests.cli.support import CONFIG_SYNC

# no DATABASE_URL, no REDIS_URL, no Pipecat key: neither command may need them
BARE_ENV = {"PATH": "/usr/bin:/bin", "HOME": "/tmp"}
DEMOS = {d["pipecat_agent_name"]: {"deployment": d["deployment"], "llm_context": d["llm_context"]} for d in DEMO_AGENTS}


def config_sync(*args: str, stdin: bytes | None = None, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        [CONFIG_SYNC, *args], input=stdin, capture_output=True, env=BARE_ENV, cwd=cwd, timeout=60, check=False
    )
    return subprocess.CompletedProcess(proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode())


@pytest.fixture(scope="module")
def printed_schema() -> dict[str, Any]:
    shown = config_sync("schema", cwd=Path("/"))  # no .env to read either
    assert shown.returncode == 0, shown.stderr
    schema: dict[str, Any] = json.loads(shown.stdout)
    return schema


def test_schema_prints_a_draft_2020_12_json_schema(printed_schema: dict[str, Any]) -> None:
    assert printed_schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(printed_schema)
    assert set(printed_schema["properties"]) == {"deployment", "llm_context", "secrets"}


@pytest.mark.parametrize("document", DEMOS.values(), ids=DEMOS.keys())
def test_the_printed_schema_accepts_the_demo_agents(printed_schema: dict[str, Any], document: dict[str, Any]) -> None:
    assert list(jsonschema.Draft202012Validator(printed_schema).iter_errors(document)) == []


@pytest.mark.parametrize("name", DAEMON_CASES)
def test_the_printed_schema_and_validate_refuse_each_invalid_case(
    printed_schema: dict[str, Any], name: str, tmp_path: Path
) -> None:
    """Each case the daemon refuses at plan time, the printed schema refuses too (max_agents >= min_agents
    included), and validate names every error."""
    case: Invalid = INVALID[name]
    schema_errors = list(jsonschema.Draft202012Validator(printed_schema).iter_errors(case.document))
    assert schema_errors, f"the printed schema accepted {name}"
    path = tmp_path / "agent.json"
    path.write_text(json.dumps(case.document))
    checked = config_sync("validate", str(path))
    assert checked.returncode == 1, checked.stderr
    assert checked.stderr.splitlines() == [
        f"{path}: invalid configuration ({len(case.errors)} error{'s' if len(case.errors) > 1 else ''}):",
        *(f"  {line}" for line in case.errors),
    ]


def test_validate_a_valid_document_from_a_file_and_from_stdin(tmp_path: Path) -> None:
    path = tmp_path / "support.json"
    path.write_text(json.dumps(DEMOS["demo-support"]))
    from_file = config_sync("validate", str(path))
    assert (from_file.returncode, from_file.stdout, from_file.stderr) == (0, f"{path}: valid configuration\n", "")
    from_stdin = config_sync("validate", "-", stdin=json.dumps(DEMOS["demo-weather"]).encode())
    assert (from_stdin.returncode, from_stdin.stdout) == (0, "stdin: valid configuration\n")


def test_validate_lists_every_error_with_its_path() -> None:
    case = INVALID["many errors at once"]
    checked = config_sync("validate", "-", stdin=json.dumps(case.document).encode())
    assert checked.returncode == 1 and checked.stdout == ""
    assert checked.stderr.splitlines() == [f"stdin: invalid configuration ({len(case.errors)} errors):"] + [
        f"  {line}" for line in case.errors
    ]


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        (None, "No such file or directory"),
        (b"{not json", "not JSON (Expecting property name enclosed in double quotes at line 1 column 2)"),
        (b"", "not JSON (Expecting value at line 1 column 1)"),
        (b'{"llm_context": "\xff"}', "not UTF-8 text"),
    ],
    ids=["missing", "not json", "empty", "not utf-8"],
)
def test_validate_an_unreadable_document_exits_2(content: bytes | None, problem: str, tmp_path: Path) -> None:
    path = tmp_path / "agent.json"
    if content is not None:
        path.write_bytes(content)
    checked = config_sync("validate", str(path))
    assert (checked.returncode, checked.stdout) == (2, "")
    assert checked.stderr.splitlines() == [f"config-sync: cannot read {path}: {problem}"]
    from_stdin = config_sync("validate", "-", stdin=content or b"")
    assert from_stdin.returncode == 2 and "cannot read stdin: " in from_stdin.stderr
