"""The observer (DESIGN §13): what Pipecat Cloud runs, compared with what Postgres wants, and self-heal.

Every process runs one; they take turns through Postgres (db/observed.py), so at most one observes at a time and
none has to stay up. A full turn, every `OBSERVE_INTERVAL_S` (±20 %), lists the agents once and reads an agent's
details only where the list cannot decide, and each in-step agent's secret set (its keys); a requested turn, within
`POLL_S` of a request, looks only at the agents asked for. The comparison is processing/live.py's. A drifted or
missing agent is healed (unless `SELF_HEAL=false`) by marking its row as needing work and queueing it: the plan
then picks the smallest operation (missing: provision, with its secret set; drifted: the secret set and a forced
redeploy). Heals of one agent back off 2 s, ×3, up to 5 min, so a person changing it by hand is not fought.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Protocol

from config_sync_service.core import metrics
from config_sync_service.core.backoff import backoff_delay
from config_sync_service.core.logging import get_logger
from config_sync_service.db import observed
from config_sync_service.db.models import LiveHealth, SyncStatus, utcnow
from config_sync_service.db.session import SessionFactory, transaction
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.pipecat_client.errors import PipecatNotFoundError
from config_sync_service.processing.config import ProcessorConfig
from config_sync_service.processing.live import Desired, Live, Verdict, compare
from config_sync_service.processing.operations import Target
from config_sync_service.schemas import agent_config
from config_sync_service.schemas.agent_config import InvalidConfigurationError

log = get_logger("config_sync.observer")
POLL_S = 1.0  # how often a process looks for a turn: an asked-for observation runs within this
TURN_LEASE_S = 30.0
BUSY_RETRY_S = 2.0  # an asked-for agent that is being synced: looked at again this much later
VERIFY_S = 2.0  # a heal is checked this long after it was queued (again while it runs)
HEAL_BASE_S, HEAL_FACTOR, HEAL_CAP_S = 2.0, 3.0, 300.0
BAD = (LiveHealth.DRIFTED, LiveHealth.MISSING)
BUSY = (SyncStatus.PENDING, SyncStatus.SYNCING, SyncStatus.DEPLOYING)


@dataclass(frozen=True, slots=True)
class ObserverConfig:
    interval_s: float
    self_heal: bool
    processor: ProcessorConfig


def desired_of(candidate: observed.Candidate, processor: ProcessorConfig) -> Desired | None:
    """What the agent's active configuration deploys (None: it is invalid, so nothing was deployed from it)."""
    agent, config = candidate.agent, candidate.config
    try:
        document = agent_config.parse_parts(
            deployment=config.deployment, llm_context=config.llm_context, secrets=config.secrets
        )
    except InvalidConfigurationError:
        return None
    return Desired.of(Target.of(agent, config, document, processor), created_deployment_id=agent.created_deployment_id)


async def read_live(client: PipecatCloudClient, desired: Desired, listed: dict[str, Any] | None) -> Live | None:
    """The agent as Pipecat shows it: from its list item when that decides, else its details; and its secret set's
    keys. None: no such agent. `listed` None: no list was read, or the agent is not in it (read the details)."""
    live = None if listed is None else Live.from_list_item(listed)
    if live is None or not compare(desired, live).decided:
        try:
            live = Live.from_details(await client.get_agent(desired.name))
        except PipecatNotFoundError:
            return None
    try:
        keys: list[str] | None = (await client.get_secret_set(desired.secret_set)).keys
    except PipecatNotFoundError:
        keys = None
    return live.with_secret_set(keys)


class HealthHook(Protocol):
    """Told each observed agent's live health (field names of its differences only, never a value)."""

    def __call__(self, agent_id: uuid.UUID, health: str, *, name: str | None, differences: list[str]) -> None: ...


class Observer:
    def __init__(
        self,
        *,
        config: ObserverConfig,
        sessions: SessionFactory,
        client: PipecatCloudClient,
        enqueue: Callable[[uuid.UUID], None],
        owner: str,
        on_health: HealthHook | None = None,
    ) -> None:
        self.config = config
        self.on_health = on_health
        self.sessions = sessions
        self.client = client
        self.enqueue = enqueue
        self.owner = owner
        self.turns = 0
        self._renewed = 0.0
        self._turn_row = False

    def _next_due_s(self) -> float:
        return self.config.interval_s * random.uniform(0.8, 1.2)

    async def run(self) -> None:
        """Look for a turn every `POLL_S` (the first look after one: start-up belongs to the sweep)."""
        while True:
            await asyncio.sleep(POLL_S * random.uniform(0.8, 1.2))
            try:
                async with transaction(self.sessions) as s:
                    if not self._turn_row:  # once per process: the row then stays
                        await observed.ensure_turn(s, first_due_in_s=self._next_due_s())
                    kind = await observed.take_turn(s, owner=self.owner, lease_s=TURN_LEASE_S)
                self._turn_row = True
                if kind is not None:
                    await self.observe(full=kind == "full")
            except Exception as exc:  # Pipecat or the database away, or a bug: the turn lapses; try again later
                log.warning("observe.failed", error_class=type(exc).__name__, error=str(exc)[:300])

    async def observe(self, *, full: bool) -> None:
        """One turn (which this process holds): every managed agent, or only those asked for."""
        self._renewed = time.monotonic()
        started = time.monotonic()
        metrics.OBSERVATIONS.labels(kind="full" if full else "requested").inc()
        async with self.sessions() as s:
            found = await observed.candidates(s, requested_only=not full)
            names = await observed.all_names(s) if full else set()
        listing = {str(i.get("name")): i for i in await self.client.list_agents()} if full else None
        looked = 0
        for candidate in found:
            await self._renew_turn()
            if not candidate.observable:
                if not full:
                    await self._postpone(candidate)
                continue
            desired = desired_of(candidate, self.config.processor)
            if desired is None:  # nothing is deployed from an invalid configuration: nothing to compare
                if not full:
                    await self._postpone(candidate)  # drops the request rather than asking it again every second
                continue
            # not in the list: read_live makes sure from the details before calling it missing
            listed = None if listing is None else listing.get(desired.name)
            await self._record(candidate, compare(desired, await read_live(self.client, desired, listed)))
            looked += 1
        orphans = sorted(set(listing) - names) if listing is not None else None
        async with transaction(self.sessions) as s:
            await observed.end_turn(
                s, owner=self.owner, next_due_in_s=self._next_due_s() if full else None, orphans=orphans
            )
        self.turns += 1
        log.info(
            "observe.done",
            kind="full" if full else "requested",
            agents=looked,
            orphans=None if orphans is None else len(orphans),
            duration_s=round(time.monotonic() - started, 3),
        )

    async def _renew_turn(self) -> None:
        if time.monotonic() - self._renewed > TURN_LEASE_S / 3:
            async with transaction(self.sessions) as s:
                await observed.renew_turn(s, owner=self.owner, lease_s=TURN_LEASE_S)
            self._renewed = time.monotonic()

    async def _postpone(self, candidate: observed.Candidate) -> None:
        """Asked for while config-sync works on it: look again soon; in an error state: drop the request (the
        error is the sync's to report, and a new version or a replay brings the agent back in step first)."""
        busy = not candidate.lease_free or candidate.agent.sync_status in BUSY or candidate.drift.needs_work
        async with transaction(self.sessions) as s:
            await observed.postpone(s, agent_id=candidate.agent.id, in_s=BUSY_RETRY_S if busy else None)

    async def _record(self, candidate: observed.Candidate, verdict: Verdict) -> None:
        agent = candidate.agent
        differences = [d.to_dict() for d in verdict.differences]
        seen = {d.get("field") for d in agent.live_differences if isinstance(d, dict)}
        observation = self._decide(candidate, verdict, differences)
        async with transaction(self.sessions) as s:
            written = await observed.record(s, candidate, observation)
        if not written:  # changed meanwhile: the sync's turn; the next observation looks again
            return
        fields = [d.field for d in verdict.differences]
        for field in set(fields) - seen:
            metrics.DRIFT.labels(field=field).inc()
        changed = verdict.health != agent.live_health or bool(set(fields) - seen)
        if self.on_health is not None and changed:  # the notifier: one event per incident, closed when healthy
            self.on_health(agent.id, verdict.health.value, name=agent.name, differences=fields)
        if verdict.health in BAD and (agent.live_health not in BAD or set(fields) - seen):
            log.warning("drift.detected", agent_id=str(agent.id), health=verdict.health.value, fields=fields)
        elif verdict.health is LiveHealth.HEALTHY and agent.live_health in BAD:
            log.info("drift.healed", agent_id=str(agent.id), heals=agent.heal_attempts)
        if observation.heal:
            metrics.HEALS.labels(health=verdict.health.value).inc()
            log.info(
                "drift.healing", agent_id=str(agent.id), health=verdict.health.value, attempt=observation.heal_attempts
            )
            self.enqueue(agent.id)

    def _decide(
        self, candidate: observed.Candidate, verdict: Verdict, differences: list[dict[str, Any]]
    ) -> observed.Observation:
        """Heal now, later (its backoff), or not at all (SELF_HEAL=false, or nothing to heal)."""
        agent, now = candidate.agent, utcnow()
        wait_s = 0.0 if agent.next_heal_at is None else (agent.next_heal_at - now).total_seconds()
        # a paused agent is observed and reported, never changed (not even queued for a heal)
        if verdict.health in BAD and self.config.self_heal and not agent.paused:
            if wait_s <= 0:
                attempts = agent.heal_attempts + 1
                delay = backoff_delay(attempts, base_s=HEAL_BASE_S, cap_s=HEAL_CAP_S, factor=HEAL_FACTOR)
                return observed.Observation(verdict.health, differences, VERIFY_S, True, attempts, delay)
            return observed.Observation(verdict.health, differences, observe_in_s=wait_s)  # heal when it may
        # the backoff is forgotten once the agent stayed healthy for the longest wait after the last heal
        quiet = agent.next_heal_at is None or now - agent.next_heal_at > timedelta(seconds=HEAL_CAP_S)
        forget = verdict.health is LiveHealth.HEALTHY and quiet and agent.heal_attempts > 0
        return observed.Observation(verdict.health, differences, heal_attempts=0 if forget else None)
