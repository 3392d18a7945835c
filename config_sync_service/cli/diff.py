"""`config-sync diff [AGENT_ID] [--orphans] [--json]`: desired beside live, read from Pipecat Cloud when it runs.

Exit 0: no difference; 1: differences; 2: an error (as `terraform plan -detailed-exitcode` and `flux diff`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from typing import Any, NoReturn

import typer

from config_sync_service.cli.common import JSON, VERBOSE, settings_or_exit
from config_sync_service.core.logging import scrub


def diff_command(
    agent_id: str | None = typer.Argument(None, help="One agent's UUID; without it, every managed agent."),
    orphans: bool = typer.Option(False, "--orphans", help="Also list agents on Pipecat Cloud that no row names."),
    as_json: bool = JSON,
    verbose: bool = VERBOSE,
) -> None:
    """Show each agent's configuration beside what Pipecat Cloud runs; exit 0 same, 1 differences, 2 error."""
    from config_sync_service.admin import diff

    try:
        target = uuid.UUID(agent_id) if agent_id else None
    except ValueError:
        _fail(f"not an agent id: {agent_id!r}")
    settings = settings_or_exit(quiet=not verbose)
    try:
        report = asyncio.run(diff.diff(settings, agent_id=target, orphans=orphans))
    except Exception as exc:  # Pipecat or the database away, no key, no such agent: one line, exit 2
        first = str(exc).splitlines()[0] if str(exc) else ""
        _fail(f"{type(exc).__name__}: {first}" if not isinstance(exc, diff.DiffError) else first)
    print(json.dumps(report.to_dict(), indent=2, default=str) if as_json else render_report(report.to_dict()))
    raise typer.Exit(report.exit_code)


def _fail(message: str) -> NoReturn:
    print(scrub(f"config-sync: diff: {message}"), file=sys.stderr)
    raise typer.Exit(2)


def _value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ",".join(str(v) for v in value) or "-"
    return "-" if value is None else str(value)


def render_report(data: dict[str, Any]) -> str:
    from config_sync_service.cli.render import printable, table

    lines: list[str] = []
    for agent in data["agents"]:
        head = f"{agent['pipecat_agent_name']} ({agent['name']}, {agent['agent_id']}) v{agent['version']}"
        lines.append(printable(f"{head}: {agent['health']}, sync {agent['sync_status']}"))
        if agent["error"]:
            lines.append(printable(f"  error: {agent['error']}"))
            continue
        rows = [
            ("*" if f["differs"] else "", f["field"], _value(f["desired"]), _value(f["live"])) for f in agent["fields"]
        ]
        lines += table(("", "FIELD", "DESIRED", "LIVE"), rows)
        lines.append("")
    if data["orphans"] is not None:
        orphans = data["orphans"]
        lines.append(printable(f"Orphans (on Pipecat Cloud, named by no agent; never deleted): {len(orphans)}"))
        lines += [printable(f"  {name}") for name in orphans]
    count = data["differences"]
    lines.append(f"{count} difference(s)" if count else "no differences")
    return "\n".join(lines)
