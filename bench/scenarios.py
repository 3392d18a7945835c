"""The four timed scenarios of issue 9 (the fifth, cost, is read from the others' process samples).

Each runs in the mode set on the `Bench`: in the engine mode as the issue describes it, in the sequential mode
one message at a time (the driver waits for SYNCED before it publishes the next) on a sample. Figures are raw
here; bench/report.py extrapolates samples and compares the modes.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from bench.db import DEPLOYMENT, SeedAgent, context, deployment
from bench.harness import Bench, deployments, percentiles
from bench.procs import RoleUsage, cpu_between
from config_sync_service.schemas.messages import ChangeType

# Calls a deployment-only change needs at the least: upsertSecretSet, updateService (the secret set is ready at once
# here, so no readiness check), and one getService that finds the revision ready (the daemon polls every
# DEPLOY_POLL_INTERVAL_S >= the deploy delay).
CALLS_PER_FULL_SYNC = 3
# scenario 1 measures a quiet agent's change (the throttle's leading edge): the driver waits for each SYNCED, which a
# throttled change would reach only after REDEPLOY_MIN_INTERVAL_S; its context push is the same, minus the update
LATENCY_ENV = {"REDEPLOY_MIN_INTERVAL_S": "0"}


async def latency(b: Bench, *, messages: int, warmup: int) -> dict[str, Any]:
    """Scenario 1: CONTEXT_UPDATEs one at a time to an agent with two active sessions, zero-latency emulator."""
    if not b.mode.paced:
        await b.restart_daemon(LATENCY_ENV)
    try:
        return await _latency(b, messages=messages, warmup=warmup)
    finally:
        if not b.mode.paced:
            await b.restart_daemon({})


async def _latency(b: Bench, *, messages: int, warmup: int) -> dict[str, Any]:
    await b.fresh()
    [agent] = await b.seed_synced(1, prefix="lat")
    sessions = [await b.control.add_session(agent.name) for _ in range(2)]
    published: dict[int, float] = {}
    rows: dict[int, Any] = {}
    for i in range(warmup + messages):
        version = i + 2
        await b.db.add_version([agent.id], version, deployment=DEPLOYMENT, llm_context=context(version))
        sent = time.time()
        await b.publish([(agent.id, version, ChangeType.CONTEXT_UPDATE)])
        row = await b.wait_synced(agent.id, version)
        if i >= warmup:
            published[version], rows[version] = sent, row
    arrivals = [{r["version"]: r["at"] for r in await b.control.received(s)} for s in sessions]
    # the context has arrived "at the sessions" when the second of the two has it
    to_context = [max(a[v] for a in arrivals) - t for v, t in published.items() if all(v in a for a in arrivals)]
    return {
        "messages": messages,
        "warmup_messages": warmup,
        "sessions": len(sessions),
        "context_pushes_missing": messages - len(to_context),
        "to_context_ms": percentiles(to_context),
        "to_deploying_ms": percentiles([rows[v]["deploying_since"].timestamp() - t for v, t in published.items()]),
        "to_synced_ms": percentiles([rows[v]["last_synced_at"].timestamp() - t for v, t in published.items()]),
        "elapsed_s": round(time.time() - min(published.values(), default=time.time()), 2),
    }


async def burst(b: Bench, *, agents: int, versions: int, timeout_s: float) -> dict[str, Any]:
    """Scenario 2: `agents` new agents × `versions` versions (v1 PROVISION, then CONTEXT_UPDATEs)."""
    await b.fresh()
    fleet = await b.db.new_agents(agents, prefix="burst")
    ids = [a.id for a in fleet]
    before, t0 = b.sampler.usage(), time.time()
    published_s = None
    if b.mode.paced:
        for version in range(1, versions + 1):
            for agent in fleet:
                await _change_one(b, agent.id, version, _burst_type(version), llm_context=context(version))
        converged = True
    else:
        for version in range(1, versions + 1):
            await b.db.add_version(ids, version, deployment=DEPLOYMENT, llm_context=context(version))
            await b.publish([(i, version, _burst_type(version)) for i in ids])
        published_s = round(time.time() - t0, 3)
        converged = await b.wait_converged(ids, versions, timeout_s=timeout_s)
    out = await _outcome(b, fleet, t0=t0, before=before, converged=converged)
    return {
        "versions": versions,
        "messages": agents * versions,
        "published_in_s": published_s,
        "timeout_s": timeout_s,
    } | out


def _burst_type(version: int) -> ChangeType:
    return ChangeType.PROVISION if version == 1 else ChangeType.CONTEXT_UPDATE


async def throttled(b: Bench, *, agents: int, timeout_s: float) -> dict[str, Any]:
    """Scenario 3: `agents` deployed agents get a deployment change (FULL_SYNC) from a rate-limited emulator."""
    await b.fresh()
    fleet = await b.seed_synced(agents, prefix="thr")
    ids = [a.id for a in fleet]
    # the daemon is told the API's limit, as an operator would configure it (PIPECAT_MAX_REQUESTS_PER_S)
    await b.restart_daemon({"PIPECAT_MAX_REQUESTS_PER_S": str(b.knobs.throttle_rate_per_s)})
    await b.control.set_faults(latency_ms=b.knobs.throttle_latency_ms, rate_limit_per_s=b.knobs.throttle_rate_per_s)
    try:
        before, t0 = b.sampler.usage(), time.time()
        if b.mode.paced:
            for agent in fleet:
                await _change_one(b, agent.id, 2, ChangeType.FULL_SYNC, llm_context=context(1), image_change=True)
            converged = True
        else:
            await b.db.add_version(ids, 2, deployment=deployment(2), llm_context=context(1))
            await b.publish([(i, 2, ChangeType.FULL_SYNC) for i in ids])
            converged = await b.wait_converged(ids, 2, timeout_s=timeout_s)
        out = await _outcome(b, fleet, t0=t0, before=before, converged=converged)
    finally:
        await b.control.clear_faults()
        await b.restart_daemon({})
    knobs = b.knobs
    return {
        "rate_limit_per_s": knobs.throttle_rate_per_s,
        "latency_ms": knobs.throttle_latency_ms,
        "timeout_s": timeout_s,
    } | out


async def recovery(b: Bench, *, agents: int, timeout_s: float) -> dict[str, Any]:
    """Scenario 4: daemon stopped, `agents` deployed agents changed in Postgres, daemon started; until converged."""
    await b.stop_daemon()
    await b.fresh()
    fleet = await b.seed_synced(agents, prefix="rec")
    ids = [a.id for a in fleet]
    await b.db.add_version(ids, 2, deployment=DEPLOYMENT, llm_context=context(2))
    before = b.sampler.usage()
    daemon = await b.start_daemon()
    converged = await b.wait_converged(ids, 2, timeout_s=timeout_s)
    out = await _outcome(b, fleet, t0=daemon.spawned_at, before=before, converged=converged, boot=True)
    _, synced_at = await b.db.last_times(ids)
    # /readyz caches its answer for 2 s, so "ready" is late by up to that: work starts with the first Pipecat call
    first_call = (await b.control.summary(daemon.spawned_at))["first_call_at"] or daemon.ready_at
    out["timeout_s"] = timeout_s
    out["ready_s"] = round(daemon.ready_at - daemon.spawned_at, 3)
    out["start_to_first_call_s"] = round(first_call - daemon.spawned_at, 3)
    out["catch_up_s"] = round(synced_at.timestamp() - first_call, 3) if synced_at else None
    return out


async def _change_one(
    b: Bench,
    agent_id: uuid.UUID,
    version: int,
    change_type: ChangeType,
    *,
    llm_context: dict[str, Any],
    image_change: bool = False,
) -> None:
    """The sequential mode's step: write one version, publish its message, wait until it is SYNCED."""
    spec = deployment(version) if image_change else DEPLOYMENT
    await b.db.add_version([agent_id], version, deployment=spec, llm_context=llm_context)
    await b.publish([(agent_id, version, change_type)])
    await b.wait_synced(agent_id, version)


async def _outcome(
    b: Bench,
    fleet: list[SeedAgent],
    *,
    t0: float,
    before: dict[str, RoleUsage],
    converged: bool,
    boot: bool = False,
) -> dict[str, Any]:
    """What a throughput scenario reports: time to converge, Pipecat calls, deployments, CPU and memory."""
    after = b.sampler.usage()
    ids, names, n = [a.id for a in fleet], [a.name for a in fleet], len(fleet)
    deploying_at, synced_at = await b.db.last_times(ids)
    summary = await b.control.summary(t0)
    converged_s = synced_at.timestamp() - t0 if converged and synced_at else None
    cpu = cpu_between(before, after)
    worker_cpu = cpu.get("workers", 0.0) - (b.boot_cpu_s if boot else 0.0)
    rss = after.get("workers", RoleUsage()).peak_rss_mb
    return {
        "agents": n,
        "converged": converged,
        "status_counts": await b.db.status_counts(ids),
        "converged_s": None if converged_s is None else round(converged_s, 3),
        "last_deploying_s": round(deploying_at.timestamp() - t0, 3) if deploying_at else None,
        "agents_per_s": round(n / converged_s, 2) if converged_s else None,
        "pipecat_calls": summary["calls"],
        "calls_per_agent": round(summary["calls"] / n, 2),
        # DESIGN §13: observing Pipecat takes at most a tenth of PIPECAT_MAX_REQUESTS_PER_S (when it is set)
        "observation_calls": summary["observation_calls"],
        "observation_share": round(summary["observation_calls"] / summary["calls"], 4) if summary["calls"] else 0.0,
        "calls_by_op": summary["by_op"],
        "calls_by_status": summary["by_status"],
        "rate_limited": summary["rate_limited"],
        "deployments_per_agent": deployments(summary, names),
        "cpu_s": cpu,
        "worker_cpu_s": round(worker_cpu, 2),
        # at small sizes the boot CPU subtracted can exceed the work itself: no figure rather than a negative one
        "worker_cpu_s_per_1000_syncs": round(worker_cpu / n * 1000, 2) if worker_cpu > 0 else None,
        "worker_boot_cpu_subtracted_s": round(b.boot_cpu_s, 2) if boot else 0.0,
        "peak_rss_mb_per_worker": sorted(round(v, 1) for v in rss.values() if v),
    }
