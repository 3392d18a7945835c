"""What recording a history row adds to the transaction that ends a pass (issue 18): the end of a pass (the
outcome's compare-and-set write and the claim given back) timed with and without `history.record`, alternating,
on a scratch database (dropped at the end).

    .venv/bin/python -m bench.history_cost [--passes 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg

from config_sync_service.core.config import load_settings
from config_sync_service.db import claims, crud, history, migrate
from config_sync_service.db.models import DesiredState, SyncStatus
from config_sync_service.db.session import SessionFactory, create_db_engine, create_session_factory, transaction

ADMIN_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"
AGENTS = 200


async def end_of_pass(sessions: SessionFactory, agent_id: uuid.UUID, *, record: bool, owner: str) -> float:
    started = time.perf_counter()
    async with transaction(sessions) as s:
        await claims.claim_agent(s, agent_id=agent_id, owner=owner, lease_s=60)
        await crud.update_agent_sync_status(
            s, agent_id=agent_id, version=1, status=SyncStatus.SYNCED, synced=True, owner=owner
        )
        if record:
            entry = history.Entry(agent_id, 1, "update", "applied", owner, 12, "SYNCED", "dep-1")
            await history.record(s, entry)
        await claims.release_claim(
            s, agent_id=agent_id, owner=owner, seen_version=1, seen_desired_state=DesiredState.ACTIVE
        )
    return time.perf_counter() - started


async def main(passes: int) -> None:
    name = f"bench_history_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN_DSN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    try:
        settings = load_settings(database_url=f"postgresql://postgres@127.0.0.1:5432/{name}")
        await asyncio.to_thread(migrate.upgrade, settings.database_url)
        db = create_db_engine(settings)
        sessions = create_session_factory(db)
        async with transaction(sessions) as s:
            ids = [(await crud.create_agent(s, name="a", pipecat_agent_name=f"a-{i}")).id for i in range(AGENTS)]
            for agent_id in ids:
                await crud.add_configuration(s, agent_id=agent_id, deployment={}, llm_context={})
        timings: dict[bool, list[float]] = {False: [], True: []}
        for i in range(passes):
            for record in (i % 2 == 0, i % 2 == 1):  # alternate which goes first
                timings[record].append(await end_of_pass(sessions, ids[i % AGENTS], record=record, owner="bench"))
        await db.dispose()
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
    for record, values in timings.items():
        values.sort()
        print(
            f"{'with history   ' if record else 'without history'}  n={len(values)}  "
            f"mean={statistics.fmean(values) * 1000:.3f} ms  p50={values[len(values) // 2] * 1000:.3f} ms  "
            f"p95={values[int(len(values) * 0.95)] * 1000:.3f} ms"
        )
    added = statistics.median(timings[True]) - statistics.median(timings[False])
    print(f"added by the history row (median): {added * 1000:.3f} ms per pass")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--passes", type=int, default=2000)
    asyncio.run(main(parser.parse_args().passes))
