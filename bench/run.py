"""`make bench`: the benchmark of issue 9, end to end, writing bench/results.json.

    .venv/bin/python -m bench.run                      # everything, full size (what `make bench` runs)
    .venv/bin/python -m bench.run --scale 0.1 --out /tmp/r.json --only burst,recovery   # a quick look
    .venv/bin/python -m bench.run --py-spy /tmp/pyspy-venv/bin/py-spy --profile recovery --out /tmp/p.json

Starts Postgres and Redis if needed (scripts/ensure-services.sh), creates `bench_<random>` (dropped at the end),
runs the emulator (bench/emulator.py) and the daemon as the image does (gunicorn, uvicorn workers) in each mode
(bench/harness.py: `sequential` on samples, then `engine`), runs the scenarios (bench/scenarios.py), prints the
table (bench/figures.py) and writes every figure with the machine, commit and settings (bench/report.py). Waits for
convergence are capped so that the run ends within `--budget-s`. Every process it starts is killed at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import redis.asyncio as aioredis

from bench import figures, report, scenarios
from bench.db import BenchDatabase
from bench.harness import ENGINE, SEQUENTIAL, Bench, BenchControl, Knobs, Mode
from bench.procs import ROOT, Emulator, RoleUsage, Sampler, kill_all
from bench.profile import Profiler

SCENARIOS = ("latency", "burst", "throttled", "recovery")


@dataclasses.dataclass(frozen=True)
class Sizes:
    """Full sizes are the issue's; the sequential mode runs on samples (its figures are extrapolated)."""

    latency_messages: int = 200
    latency_warmup: int = 10
    burst_agents: int = 1000
    burst_versions: int = 10
    throttled_agents: int = 500
    recovery_agents: int = 5000
    seq_latency_messages: int = 50
    seq_burst_agents: int = 10
    seq_throttled_agents: int = 20
    seq_recovery_agents: int = 200

    def scaled(self, factor: float) -> Sizes:
        fixed = {"latency_warmup", "burst_versions"}
        return dataclasses.replace(
            self,
            **{
                f.name: max(2, round(getattr(self, f.name) * factor))
                for f in dataclasses.fields(self)
                if f.name not in fixed
            },
        )


async def run_scenario(b: Bench, name: str, sizes: Sizes, deadline: float) -> dict[str, Any]:
    """One scenario in the current mode; waits for convergence are capped so that the whole run ends by `deadline`."""
    seq = b.mode.paced

    def capped(cap_s: float) -> float:
        return max(10.0, min(cap_s, deadline - time.monotonic() - 10))

    if name == "latency":
        messages = sizes.seq_latency_messages if seq else sizes.latency_messages
        return await scenarios.latency(b, messages=messages, warmup=sizes.latency_warmup)
    if name == "burst":
        agents = sizes.seq_burst_agents if seq else sizes.burst_agents
        return await scenarios.burst(b, agents=agents, versions=sizes.burst_versions, timeout_s=capped(120))
    if name == "throttled":
        agents = sizes.seq_throttled_agents if seq else sizes.throttled_agents
        bound = scenarios.CALLS_PER_FULL_SYNC * agents / b.knobs.throttle_rate_per_s
        # past 1.5× the lower bound the target (+5 %) is missed for certain: stop waiting there
        return await scenarios.throttled(b, agents=agents, timeout_s=capped(bound * 1.5 + 10))
    agents = sizes.seq_recovery_agents if seq else sizes.recovery_agents
    return await scenarios.recovery(b, agents=agents, timeout_s=capped(300))


async def run_mode(
    b: Bench, mode: Mode, names: list[str], sizes: Sizes, results: figures.Results, profile: str | None, deadline: float
) -> dict[str, Any]:
    """Start the mode's daemon, run the scenarios, stop it; returns the mode's memory and boot figures."""
    b.mode = mode
    b.sampler.reset_peaks()
    daemon = await b.start_daemon()
    b.boot_cpu_s = daemon.workers_cpu_s()
    profiles: dict[str, Any] = {}
    for name in names:
        profiling = b.profiler is not None and mode is ENGINE and name == profile
        if profiling and b.profiler is not None:
            b.profiler.active = True
            b.profiler.attach("emulator", b.emulator.proc.pid)
            for worker in daemon.workers():
                b.profiler.attach("worker", worker.pid)
        started = time.monotonic()
        try:
            figures = await run_scenario(b, name, sizes, deadline)
        except Exception as exc:  # one scenario failing must not lose the others' figures
            figures = {"error": f"{type(exc).__name__}: {exc}"}
            if b.daemon is None or b.daemon.proc is None or b.daemon.proc.poll() is not None:
                daemon = await b.start_daemon()
        figures["wall_s"] = round(time.monotonic() - started, 1)
        results.setdefault(name, {})[mode.name] = figures
        print(f"bench: [{mode.name}] {name}: {_headline(figures)} ({figures['wall_s']} s)", flush=True)
        if profiling and b.profiler is not None:
            profiles[name] = b.profiler.finish()
    workers = b.sampler.usage().get("workers", RoleUsage())
    rss = sorted(round(v, 1) for v in workers.peak_rss_mb.values() if v)
    await b.stop_daemon()
    return {"peak_rss_mb_per_worker": rss, "peak_rss_mb_max": max(rss, default=None), "boot_cpu_s": b.boot_cpu_s} | (
        {"profiles": profiles} if profiles else {}
    )


def _headline(figures: dict[str, Any]) -> str:
    if "error" in figures:
        return f"FAILED {figures['error']}"
    if "to_context_ms" in figures:
        return f"context p99 {figures['to_context_ms'].get('p99')} ms"
    return f"converged {figures.get('converged')} in {figures.get('converged_s')} s"


async def run_all(args: argparse.Namespace, knobs: Knobs, sizes: Sizes, log_dir: Path) -> dict[str, Any]:
    db = BenchDatabase()
    redis = aioredis.Redis.from_url(knobs.redis_url)
    sampler = Sampler(database=db.name)
    control: BenchControl | None = None
    b: Bench | None = None
    try:
        await db.create()
        emulator = await asyncio.to_thread(
            Emulator.start,
            deploy_delay_s=knobs.deploy_delay_s,
            secret_ready_delay_s=knobs.secret_ready_delay_s,
            log_dir=log_dir,
        )
        sampler.emulator = emulator
        sampler.start()
        control = BenchControl(emulator)
        b = Bench(knobs, db, emulator, control, redis, sampler, log_dir, extra_env=dict(args.daemon_env))
        if args.py_spy:
            b.profiler = Profiler(args.py_spy, log_dir)
        results: figures.Results = {}
        names = [n for n in SCENARIOS if n in args.only.split(",")]
        postgres = await db.server_version()
        redis_version = (await redis.info("server"))["redis_version"]
        deadline = time.monotonic() + args.budget_s
        # the sequential samples first: their time is predictable, the engine's waits are capped by what is left
        for mode in [m for m in (SEQUENTIAL, ENGINE) if m.name in args.modes.split(",")]:
            usage = await run_mode(b, mode, names, sizes, results, args.profile, deadline)
            results.setdefault("cost", {})[mode.name] = usage
        return {"results": results, "postgres": postgres, "redis": redis_version, "channel": b.channel}
    finally:
        sampler.stop()
        if b is not None:
            await b.stop_daemon()
        kill_all()
        if control is not None:
            await control.aclose()
        if b is not None:
            await redis.delete(b.dlq_key)
        await redis.aclose()
        await db.drop()


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results.json")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every size (a quick look: 0.1)")
    parser.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    parser.add_argument("--modes", default="engine,sequential")
    parser.add_argument("--py-spy", help="path of a py-spy binary: record the engine mode's --profile scenario")
    parser.add_argument("--profile", default="recovery", choices=SCENARIOS)
    parser.add_argument("--keep-logs", action="store_true", help="keep the daemon and emulator logs")
    parser.add_argument("--budget-s", type=float, default=560.0, help="end every wait by then (make bench < 10 min)")
    parser.add_argument(
        "--daemon-env",
        type=_key_value,
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="extra daemon setting, e.g. DB_POOL_SIZE=12 (to measure a proposed change; recorded in results.json)",
    )
    return parser.parse_args()


def _key_value(text: str) -> tuple[str, str]:
    name, sep, value = text.partition("=")
    if not sep or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, got {text!r}")
    return name, value


def _interrupted(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main() -> None:
    args = parse_args()
    knobs, sizes = Knobs(), Sizes().scaled(args.scale)
    subprocess.run([str(ROOT / "scripts" / "ensure-services.sh")], check=True)
    signal.signal(signal.SIGTERM, _interrupted)  # `kill` cleans up like Ctrl-C: processes, database
    log_dir = Path(tempfile.mkdtemp(prefix="config-sync-bench-"))
    started, began = time.time(), time.monotonic()
    document: dict[str, Any] = {"started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "machine": report.machine()}
    ok = False
    try:
        run = asyncio.run(run_all(args, knobs, sizes, log_dir))
        ok = True
    finally:
        kill_all()
        if ok and not args.keep_logs:
            shutil.rmtree(log_dir, ignore_errors=True)
        else:
            print(f"bench: logs in {log_dir}", file=sys.stderr)
    results = run["results"]
    report.extrapolate(results, dataclasses.asdict(sizes))
    rows = figures.rows(results, dataclasses.asdict(sizes), dataclasses.asdict(knobs))
    document |= _document(run, knobs, sizes, rows, wall_s=time.monotonic() - began, started=started)
    document["settings"]["daemon_env_overrides"] = dict(args.daemon_env)
    print(report.table(rows))
    report.write(args.out, document)
    print(f"bench: wrote {args.out} in {time.monotonic() - began:.0f} s")


def _document(
    run: dict[str, Any], knobs: Knobs, sizes: Sizes, rows: list[figures.Row], *, wall_s: float, started: float
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "wall_s": round(wall_s, 1),
        "commit": report.commit(),
        "services": {"postgres": run["postgres"], "redis": run["redis"]},
        "settings": {
            "knobs": dataclasses.asdict(knobs),
            "sizes": dataclasses.asdict(sizes),
            "modes": {m.name: dataclasses.asdict(m) for m in (ENGINE, SEQUENTIAL)},
            "sequential_definition": SEQUENTIAL_DEFINITION,
            "daemon_env": DAEMON_ENV_NOTE,
            "emulator": EMULATOR_NOTE,
        },
        "table": [r.as_dict() for r in rows],
        "scenarios": run["results"],
    }
    with contextlib.suppress(KeyError):
        document["profiles"] = run["results"]["cost"]["engine"].pop("profiles")
    return document


SEQUENTIAL_DEFINITION = (
    "The naive design: the same daemon under gunicorn with WEB_CONCURRENCY=1 and MAX_CONCURRENCY=1, and a driver "
    "that publishes one message and waits until the agent is SYNCED at that version before publishing the next "
    "(no concurrency, nothing to coalesce). Scenario 4 has no messages: the sequential daemon catches up alone, one "
    "sync at a time (its deployment polls are requeued, not waited on). Samples: the sizes prefixed seq_; "
    "'extrapolated' figures are linear in the sample's pace (scenario 4: time to the first Pipecat call + "
    "catch-up time × N/n)."
)
DAEMON_ENV_NOTE = (
    "Production defaults except: DEPLOY_POLL_INTERVAL_S=knobs.deploy_poll_interval_s, WEB_CONCURRENCY and "
    "MAX_CONCURRENCY per mode, LOG_FORMAT=json, LOG_LEVEL=INFO, no AGENT_SECRET_*; a bench-only channel and DLQ key."
)
EMULATOR_NOTE = (
    "bench/emulator.py in its own process (uvicorn): deploy_delay_s and secret_ready_delay_s from knobs, no faults "
    "except in scenario 3 (latency_ms=throttle_latency_ms, rate_limit_per_s=throttle_rate_per_s, Retry-After 1 s)."
)


if __name__ == "__main__":
    try:
        main()
    finally:
        kill_all()
