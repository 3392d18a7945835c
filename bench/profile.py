"""Optional sampling profiles with py-spy (`--py-spy PATH`): where the processes spend their CPU in a scenario.

Not needed by `make bench`: py-spy is not a dependency. Install it anywhere (e.g. `python -m venv /tmp/pyspy-venv
&& /tmp/pyspy-venv/bin/pip install py-spy`) and pass its path. Each process gets `py-spy record -f raw`; the
collapsed stacks are summarised by package (self and inclusive) and by hottest leaf function.
"""

from __future__ import annotations

import contextlib
import re
import signal
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

_SITE = re.compile(r"site-packages/([A-Za-z0-9_]+)")
_OWN = re.compile(r"/(config_sync_service|bench)/([A-Za-z0-9_]+)")
_STDLIB = re.compile(r"/lib/python3\.\d+/([A-Za-z0-9_]+)")
_IDLE = ("Condition.wait ", "Runner.run ", "Event.wait ", "Thread.join ", "EpollSelector.select ", "_worker ")


@dataclass
class Profiler:
    py_spy: str
    out_dir: Path
    rate_hz: int = 50
    active: bool = False
    _recorders: list[tuple[str, int, Path, subprocess.Popen[bytes]]] = field(default_factory=list)

    def attach(self, role: str, pid: int) -> None:
        out = self.out_dir / f"pyspy-{role}-{pid}.txt"
        argv = [self.py_spy, "record", "-p", str(pid), "-r", str(self.rate_hz), "-f", "raw", "--full-filenames"]
        proc = subprocess.Popen(
            [*argv, "-o", str(out)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
        )
        self._recorders.append((role, pid, out, proc))

    def finish(self) -> dict[str, Any]:
        """Stop every recorder (SIGINT makes py-spy write its file) and summarise per process."""
        for _, _, _, proc in self._recorders:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGINT)
        summaries: dict[str, Any] = {}
        for role, pid, out, proc in self._recorders:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            if out.exists():
                summaries[f"{role}-{pid}"] = summarise(out.read_text())
        self._recorders.clear()
        self.active = False
        return summaries


def _package(frame: str) -> str:
    for pattern, prefix in ((_OWN, ""), (_SITE, ""), (_STDLIB, "stdlib.")):
        match = pattern.search(frame)
        if match:
            return prefix + ".".join(g for g in match.groups() if g)
    return "other"


def _own_function(frame: str) -> str | None:
    """`crud.claim_agent` for a frame in config_sync_service (module and function, no line)."""
    match = re.match(r"(?P<func>\S+) \(.*/config_sync_service/(?P<path>[^:]+)\.py:\d+\)$", frame)
    return f"{match['path'].replace('/', '.')}.{match['func']}" if match else None


def summarise(raw: str, top: int = 15) -> dict[str, Any]:
    """Samples by package (self: the leaf frame's; inclusive: anywhere in the stack) and the hottest leaves."""
    total = 0
    self_pkg: Counter[str] = Counter()
    incl_pkg: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    own: Counter[str] = Counter()
    for line in raw.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        if frames[-1].startswith(_IDLE):  # py-spy counts some waits as busy: an event loop in epoll, pool threads
            continue
        total += count
        leaf = frames[-1]
        self_pkg[_package(leaf)] += count
        leaves[re.sub(r" \(.*/", " (", leaf)] += count
        for package in {_package(f) for f in frames}:
            incl_pkg[package] += count
        for function in {_own_function(f) for f in frames} - {None}:
            own[str(function)] += count

    def pct(counter: Counter[str], limit: int = top) -> dict[str, float]:
        return {k: round(100 * v / total, 1) for k, v in counter.most_common(limit)} if total else {}

    return {
        "samples": total,
        "self_pct": pct(self_pkg),
        "inclusive_pct": pct(incl_pkg),
        "config_sync_functions_inclusive_pct": pct(own, 25),
        "top_leaves_pct": pct(leaves),
    }
