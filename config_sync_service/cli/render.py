"""Plain-text views for the command line: `/status` and dead-letter entries.

Everything shown comes from outside (published payloads, Pipecat's error messages, agent names, entries changed by
hand), so every piece of text goes through `printable` on its way into a line: a terminal never receives an escape
sequence, a bell or a carriage return from data, only their visible escapes (`\\x1b`, `\\x07`, `\\r`).
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Sequence
from typing import Any

from config_sync_service.admin.dlq import Listed, Page
from config_sync_service.db.models import SyncStatus

# what a terminal acts on: C0 controls, DEL, C1 controls (U+0080–U+009F, CSI among them), bidi embeddings,
# overrides and isolates, line and paragraph separators, and lone surrogates (which would not even print)
_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069\u2028\u2029\ud800-\udfff]")
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escaped(match: re.Match[str]) -> str:
    char = match.group()
    code = ord(char)
    return _NAMED.get(char) or (f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")


def printable(value: object) -> str:
    """`value` as text a terminal shows as it is: control and direction characters escaped visibly."""
    return _UNSAFE.sub(_escaped, str(value))


def table(headers: Sequence[str], rows: Sequence[Sequence[object]], *, indent: str = "  ") -> list[str]:
    """Left-aligned columns; the last one is not padded."""
    cells = [[printable(h) for h in headers], *[["" if c is None else printable(c) for c in row] for row in rows]]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for row in cells:
        padded = [c.ljust(w) for c, w in zip(row[:-1], widths[:-1], strict=True)] + [row[-1]]
        lines.append((indent + "  ".join(padded)).rstrip())
    return lines


def ago(seconds: float | None) -> str:
    if seconds is None:
        return "never"
    seconds = max(0, int(seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, s = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m {s:02d}s"
    hours, m = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h {m:02d}m"
    return f"{hours // 24}d {hours % 24}h"


def when(epoch: float | None) -> str:
    if not epoch:
        return "-"
    try:
        return dt.datetime.fromtimestamp(float(epoch), dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    except (ValueError, OverflowError, OSError):  # a time no calendar holds (an entry changed by hand)
        return f"? ({epoch})"


def _short(text: str | None, width: int) -> str:
    text = printable(" ".join(str(text or "").split()))
    return text if len(text) <= width else text[: width - 1] + "…"


def render_status(data: dict[str, Any], *, url: str) -> str:
    """`config-sync status`: agents per status, the oldest out-of-sync agents, queue, dead letters, sweep."""
    header = printable(
        f"config-sync {data.get('version')} at {url}: up {ago(data.get('uptime_s'))}, "
        f"{'subscribed' if data.get('subscribed') else 'NOT subscribed'} (process {data.get('owner')})"
    )
    sections = [header, "", *_agents(data), "", *_process(data), "", *_out_of_sync(data)]
    if "live" in data:
        sections += ["", *_live(data)]
    sections += ["", *_sessions_behind(data), "", *_paused(data)]
    return "\n".join(sections).rstrip()


def _agents(data: dict[str, Any]) -> list[str]:
    by_status: dict[str, int] = data.get("agents_by_status", {})
    known = [s.value for s in SyncStatus if s.value in by_status]
    rows = [(name, by_status[name]) for name in known + sorted(set(by_status) - set(known))]
    rows.append(("total", sum(by_status.values())))
    return ["Agents by sync status", *table(("STATUS", "AGENTS"), rows)]


def _process(data: dict[str, Any]) -> list[str]:
    queue, sweep, pacing = data.get("queue", {}), data.get("last_sweep", {}), data.get("pacing", {})
    lines = [
        f"Queue:        {queue.get('depth', 0)} waiting, {queue.get('in_flight', 0)} in flight, "
        f"{queue.get('scheduled', 0)} scheduled (this process)",
        f"Dead letters: {data.get('dlq_depth', 0)}",
        f"Last sweep:   {ago(sweep.get('ago_s'))} ago, queued {sweep.get('queued', 0)} "
        f"({sweep.get('sweeps', 0)} sweeps)",
        f"Pipecat:      next request slot in {pacing.get('next_slot_in_s', 0)}s, "
        f"{pacing.get('pauses', 0)} pause(s) asked by its answers (this process)",
    ]
    counters: dict[str, int] = data.get("counters", {})
    if counters:
        lines.append("Counters:     " + ", ".join(f"{k.replace('_', '-')} {v}" for k, v in counters.items()))
    last = data.get("last_error")
    if last:
        lines.append(
            f"Last error:   {when(last.get('at'))} agent {last.get('agent_id')} {last.get('error_class')}: "
            f"{_short(last.get('message'), 100)}"
        )
    return [printable(line) for line in lines]


def _out_of_sync(data: dict[str, Any]) -> list[str]:
    out = data.get("out_of_sync", {})
    oldest = out.get("oldest", [])
    lines = [printable(f"Out of sync: {out.get('count', 0)} agent(s)") + (", oldest first" if oldest else "")]
    if oldest:
        lines += table(
            ("AGENT", "NAME", "STATUS", "ACTIVE", "SYNCED", "FOR", "LAST ERROR"),
            [
                (
                    a["agent_id"],
                    _short(a.get("name"), 24),
                    a["sync_status"] + (" (PAUSED)" if a.get("paused") else ""),
                    a.get("active_version") or "-",
                    a.get("synced_version") or "-",
                    ago(a.get("for_s")),
                    _short(f"{a['last_error_class']}: {a.get('last_error')}" if a.get("last_error_class") else "", 70),
                )
                for a in oldest
            ],
        )
    return lines


def _sessions_behind(data: dict[str, Any]) -> list[str]:
    behind = data.get("sessions_behind", {})
    agents = behind.get("agents", [])
    lines = [printable(f"Live sessions on an older version: {behind.get('count', 0)} agent(s)")]
    if agents:
        rows = [(a["agent_id"], _short(a.get("name"), 24), a.get("active_version") or "-", _short(a.get("summary"), 60))
                for a in agents]  # fmt: skip
        lines += table(("AGENT", "NAME", "ACTIVE", "SESSIONS"), rows)
    return lines


def _live(data: dict[str, Any]) -> list[str]:
    """Live health (what the last observation of Pipecat Cloud found), the unhealthy agents, orphans."""
    live = data["live"]
    counts = ", ".join(f"{k} {v}" for k, v in live.get("by_health", {}).items())
    orphans = live.get("orphans", {})
    lines = [
        printable(f"Live health:  {counts} (self-heal {'on' if live.get('self_heal') else 'off'})"),
        printable(f"Observed:     last full observation {live.get('last_full_observation') or 'never'}"),
        printable(f"Orphans:      {orphans.get('count', 0)} " + " ".join(orphans.get("names", []))),
    ]
    unhealthy = live.get("unhealthy", [])
    if unhealthy:
        rows = [
            (a["agent_id"], _short(a.get("name"), 24), a["health"], _short(_fields(a.get("differences")), 60))
            for a in unhealthy
        ]
        lines += table(("AGENT", "NAME", "HEALTH", "DIFFERENCES"), rows)
    return lines


def _fields(differences: Any) -> str:
    if not isinstance(differences, list):
        return ""
    return ", ".join(f"{d.get('field')}: {d.get('live')}" for d in differences if isinstance(d, dict))


def _paused(data: dict[str, Any]) -> list[str]:
    paused = data.get("paused", {})
    if not paused.get("count"):
        return []
    rows = [(a["agent_id"], _short(a.get("name"), 24), _short(a.get("reason"), 70)) for a in paused.get("agents", [])]
    return [printable(f"Paused: {paused['count']} agent(s)"), *table(("AGENT", "NAME", "REASON"), rows)]


def render_history(rows: Sequence[dict[str, Any]]) -> str:
    """`config-sync history`: one line per pass, newest first."""
    if not rows:
        return "no history for this agent yet"
    return "\n".join(
        table(
            ("TIME", "VER", "ACTION", "OUTCOME", "STATUS", "DURATION", "DEPLOYMENT", "ERROR"),
            [
                (
                    str(r["recorded_at"])[:19].replace("T", " "),
                    r["version"] if r["version"] is not None else "-",
                    r["action"],
                    r["outcome"],
                    r["sync_status"] or "-",
                    f"{r['duration_ms']} ms",
                    _short(r["deployment_id"], 24) or "-",
                    _short(f"{r['error_class']}: {r['error_message']}" if r["error_class"] else "", 70),
                )
                for r in rows
            ],
            indent="",
        )
    )


def render_page(page: Page) -> str:
    if not page.entries:
        return f"no dead letters (of {page.total}) match" if page.total else "the dead-letter list is empty"
    lines = table(
        ("#", "ID", "DEAD AT", "REASON", "AGENT", "VER", "REPLAYS", "ERROR"),
        [
            (
                item.index,
                item.entry.id[:12],
                when(item.entry.dead_at),
                item.entry.reason,
                item.entry.agent_id or "-",
                item.entry.version if item.entry.version is not None else "-",
                item.entry.replay_count,
                _short(f"{item.entry.error_class}: {item.entry.error_message}", 60),
            )
            for item in page.entries
        ],
        indent="",
    )
    last = page.offset + len(page.entries)
    lines.append(f"{page.offset + 1}-{last} of {page.matching} matching ({page.total} in the list), newest first")
    return "\n".join(lines)


def render_entry(item: Listed) -> str:
    data = item.to_dict()
    for key in ("first_failure_at", "last_failure_at", "dead_at"):
        data[key] = f"{when(data[key])} ({data[key]})"
    width = max(len(k) for k in data)
    return "\n".join(
        printable(f"{k.ljust(width)}  {json.dumps(v) if isinstance(v, dict | list) else v}") for k, v in data.items()
    )
