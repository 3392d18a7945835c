"""`config-sync schema` and `config-sync validate`: the configuration's JSON Schema, and an offline check of a
configuration document against the rules the daemon applies. Neither reads settings or needs a service."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import typer

# exit codes of `validate`
VALID, INVALID, UNREADABLE = 0, 1, 2


def schema_command() -> None:
    """Print the agent configuration's JSON Schema (draft 2020-12), for dashboards and backends to validate
    their forms against. One rule it cannot express, max_agents >= min_agents, `validate` checks."""
    from agent_schema import json_schema

    print(json.dumps(json_schema(), indent=2, ensure_ascii=False))


def validate_command(
    path: str = typer.Argument(..., metavar="FILE|-", help="A configuration document (JSON); `-` reads stdin."),
) -> None:
    """Check a configuration document {deployment, llm_context, secrets} offline, as the daemon will.

    Exit 0: valid. 1: invalid (every error, with its field path, on stderr). 2: unreadable (no such file, not
    JSON)."""
    from config_sync_service.schemas.agent_config import InvalidConfigurationError, parse_document

    name = "stdin" if path == "-" else path
    document = _read(path, name)
    try:
        parse_document(document)
    except InvalidConfigurationError as exc:
        count = f"{len(exc.lines)} error{'s' if len(exc.lines) != 1 else ''}"
        print(f"{name}: invalid configuration ({count}):", file=sys.stderr)
        for line in exc.lines:
            print(f"  {line}", file=sys.stderr)
        raise typer.Exit(INVALID) from None
    print(f"{name}: valid configuration")


def _read(path: str, name: str) -> Any:
    """The JSON document at `path` (`-`: stdin); an unreadable one ends the command with exit 2 and one line."""
    try:
        text = sys.stdin.buffer.read() if path == "-" else Path(path).read_bytes()
        return json.loads(text)
    except OSError as exc:
        problem = exc.strerror or type(exc).__name__
    except UnicodeDecodeError:
        problem = "not UTF-8 text"
    except json.JSONDecodeError as exc:
        problem = f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})"
    print(f"config-sync: cannot read {name}: {problem}", file=sys.stderr)
    raise typer.Exit(UNREADABLE)
