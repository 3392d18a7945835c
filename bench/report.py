"""From raw scenario figures to bench/results.json and the printed table: machine, commit, extrapolated samples."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import psutil

from bench.figures import Results, Row
from bench.procs import ROOT


def machine() -> dict[str, Any]:
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in line
        ),
        platform.processor(),
    )
    return {
        "cpu_model": model,
        "logical_cpus": os.cpu_count(),
        "physical_cpus": psutil.cpu_count(logical=False),
        "memory_gb": round(psutil.virtual_memory().total / 2**30, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def commit() -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False).stdout

    changed = [line[3:] for line in git("status", "--porcelain").splitlines() if line.strip()]
    sha, subject = git("rev-parse", "HEAD").strip(), git("log", "-1", "--format=%s").strip()
    return {"sha": sha, "subject": subject, "uncommitted": changed}


def extrapolate(results: Results, full: dict[str, int]) -> None:
    """Add `extrapolated` to each sequential sample: the full-size figure at the sample's pace (linear)."""
    seq = {name: modes.get("sequential") for name, modes in results.items()}
    burst = seq.get("burst")
    if burst and burst.get("converged_s"):
        per_message = burst["converged_s"] / burst["messages"]
        total = per_message * full["burst_agents"] * burst["versions"]
        burst["extrapolated"] = {"converged_s": round(total, 1), "agents_per_s": round(full["burst_agents"] / total, 2)}
    throttled = seq.get("throttled")
    if throttled and throttled.get("converged_s"):
        total = throttled["converged_s"] / throttled["agents"] * full["throttled_agents"]
        throttled["extrapolated"] = {"converged_s": round(total, 1)}
    recovery = seq.get("recovery")
    if recovery and recovery.get("catch_up_s") is not None:
        scale = full["recovery_agents"] / recovery["agents"]
        total = recovery["start_to_first_call_s"] + recovery["catch_up_s"] * scale
        recovery["extrapolated"] = {
            "converged_s": round(total, 1),
            "agents_per_s": round(full["recovery_agents"] / total, 2),
        }


def table(found: list[Row]) -> str:
    header = Row("scenario", "figure", "engine", "sequential", "ratio", "target", "")
    cells = [header.as_dict(), *[r.as_dict() for r in found]]
    widths = {k: max(len(c[k]) for c in cells) for k in header.as_dict()}
    lines = [" | ".join(c[k].ljust(widths[k]) for k in widths).rstrip() for c in cells]
    lines.insert(1, "-+-".join("-" * widths[k] for k in widths))
    return "\n".join(lines)


def markdown(found: list[Row]) -> str:
    lines = ["| scenario | figure | engine | sequential | ratio | target | |", "|---|---|---:|---:|---:|---|---|"]
    lines += [
        f"| {r.scenario} | {r.figure} | {r.engine} | {r.sequential} | {r.ratio} | {r.target} | {r.met} |" for r in found
    ]
    return "\n".join(lines)


def write(path: Path, document: dict[str, Any]) -> None:
    path.write_text(json.dumps(document, indent=2, sort_keys=False, default=str) + "\n")


def main() -> None:
    """`python -m bench.report [bench/results.json]`: the stored table as Markdown (for the README)."""
    path = Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "bench" / "results.json"
    document = json.loads(path.read_text())
    print(markdown([Row(**row) for row in document["table"]]))


if __name__ == "__main__":
    main()
