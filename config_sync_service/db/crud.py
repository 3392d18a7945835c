"""Reads and writes of agents and their configurations, as keyword-only async functions over an `AsyncSession`.

The backend writes agents and configurations (`create_agent`, `update_agent`, `add_configuration`);
config-sync writes only the sync columns, always with a compare-and-set on the version it applied
(`update_agent_sync_status`). The claim is in claims.py, "out of sync" in drift.py.
"""

from __future__ import annotations

import copy
import functools
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col, select

from config_sync_service.db.models import Agent, AgentConfiguration, DesiredState, SyncStatus, utcnow
from config_sync_service.db.tables import AGENTS

_UNSET: Any = object()


@dataclass(frozen=True, slots=True)
class ConfigurationParts:
    """The three JSON columns of a configuration version, as stored (any JSON: the schema is not the db's)."""

    deployment: Any
    llm_context: Any
    secrets: Any


async def get_agent_details(session: AsyncSession, *, agent_id: uuid.UUID) -> Agent | None:
    return await session.get(Agent, agent_id, populate_existing=True)


async def get_active_configuration(session: AsyncSession, *, agent_id: uuid.UUID) -> AgentConfiguration | None:
    result = await session.execute(
        select(AgentConfiguration).where(
            col(AgentConfiguration.agent_id) == agent_id, col(AgentConfiguration.is_active).is_(True)
        )
    )
    return result.scalar_one_or_none()


async def create_agent(
    session: AsyncSession,
    *,
    name: str,
    pipecat_agent_name: str,
    agent_id: uuid.UUID | None = None,
    desired_state: DesiredState = DesiredState.ACTIVE,
) -> Agent:
    agent = Agent(
        id=agent_id or uuid.uuid4(), name=name, pipecat_agent_name=pipecat_agent_name, desired_state=desired_state
    )
    session.add(agent)
    await session.flush()
    return agent


async def update_agent(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    name: str | None = None,
    desired_state: DesiredState | None = None,
) -> Agent | None:
    """The backend's edit of an agent's own fields (not the sync columns)."""
    values: dict[str, Any] = {"updated_at": utcnow()}
    if name is not None:
        values["name"] = name
    if desired_state is not None:
        values["desired_state"] = desired_state
    await session.execute(sa.update(Agent).where(col(Agent.id) == agent_id).values(**values))
    return await get_agent_details(session, agent_id=agent_id)


async def add_configuration(
    session: AsyncSession,
    *,
    agent_id: uuid.UUID,
    deployment: dict[str, Any] | None = None,
    llm_context: dict[str, Any] | None = None,
    secrets: dict[str, Any] | None = None,
    check: Callable[[ConfigurationParts], object] | None = None,
) -> AgentConfiguration:
    """A new version that becomes the active one; omitted parts are carried over from the previous version.

    `check` sees the whole new configuration (the parts given and the parts carried over) before anything is
    written; whatever it raises leaves the database as it was."""
    # the row lock serialises concurrent writers of one agent, so versions stay gap-free and unique
    locked = await session.execute(select(Agent.id).where(col(Agent.id) == agent_id).with_for_update())
    if locked.scalar_one_or_none() is None:
        raise LookupError(f"agent {agent_id} does not exist")
    previous = await get_active_configuration(session, agent_id=agent_id)
    parts = ConfigurationParts(
        deployment=deployment if deployment is not None else (previous.deployment if previous else {}),
        llm_context=llm_context if llm_context is not None else (previous.llm_context if previous else {}),
        secrets=secrets if secrets is not None else (previous.secrets if previous else {}),
    )
    if check is not None:
        check(parts)
    top = await session.execute(
        select(sa.func.coalesce(sa.func.max(AgentConfiguration.version), 0)).where(
            col(AgentConfiguration.agent_id) == agent_id
        )
    )
    version = int(top.scalar_one()) + 1
    await session.execute(
        sa.update(AgentConfiguration)
        .where(col(AgentConfiguration.agent_id) == agent_id, col(AgentConfiguration.is_active).is_(True))
        .values(is_active=False)
    )
    config = AgentConfiguration(
        agent_id=agent_id,
        version=version,
        is_active=True,
        deployment=copy.deepcopy(parts.deployment),
        llm_context=copy.deepcopy(parts.llm_context),
        secrets=copy.deepcopy(parts.secrets),
    )
    session.add(config)
    await session.flush()
    return config


@dataclass(frozen=True, slots=True)
class SyncWrite:
    """An outcome to write with the claim's release (claims.release_claim): `values` from `sync_values`."""

    version: int
    values: dict[str, Any]


def sync_values(
    *,
    version: int,
    status: SyncStatus,
    synced: bool = False,
    error_message: str | None = _UNSET,
    error_class: str | None = _UNSET,
    next_retry_at: datetime | None = _UNSET,
    attempts: int | None = None,
    pipecat_cloud_instance_id: str | None = _UNSET,
    applied_deployment_hash: str | None = _UNSET,
    applied_context_hash: str | None = _UNSET,
    deploying_since: datetime | None = _UNSET,
    created_deployment_id: str | None = _UNSET,
) -> dict[str, Any]:
    """The sync columns an outcome at `version` writes (the parameters not given are left as they are).

    `synced=True` also moves `synced_version` to `version` and stamps `last_synced_at`.
    """
    now = utcnow()
    values: dict[str, Any] = {"sync_status": status, "target_version": version, "updated_at": now}
    if synced:
        values |= {"synced_version": version, "last_synced_at": now}
    optional = {
        "last_error_message": error_message,
        "last_error_class": error_class,
        "next_retry_at": next_retry_at,
        "pipecat_cloud_instance_id": pipecat_cloud_instance_id,
        "applied_deployment_hash": applied_deployment_hash,
        "applied_context_hash": applied_context_hash,
        "deploying_since": deploying_since,
        "created_deployment_id": created_deployment_id,
    }
    values |= {k: v for k, v in optional.items() if v is not _UNSET}
    if attempts is not None:
        values["attempts"] = attempts
    return values


def sync_params(values: dict[str, Any], *, version: int) -> dict[str, Any]:
    """The bound parameters of `values` for `_sync_update` or `guarded_values` (and the compare-and-set's version)."""
    return {f"set_{name}": value for name, value in values.items()} | {"version": version}


async def update_agent_sync_status(
    session: AsyncSession, *, agent_id: uuid.UUID, version: int, owner: str | None = None, **fields: Any
) -> bool:
    """Record the outcome of work on `version` (`fields`: those of `sync_values`); refused (False) when a newer
    version was already applied, or, with `owner`, when the claim on the agent is no longer `owner`'s (only the
    holder writes)."""
    values = sync_values(version=version, **fields)
    params = sync_params(values, version=version) | {"agent_id": agent_id}
    if owner is not None:
        params["owner"] = owner
    result = await session.execute(_sync_update(frozenset(values), held=owner is not None), params)
    return bool(result.rowcount)  # type: ignore[attr-defined]


# the compare-and-set: an outcome at `:version` never overwrites a newer version's
_NOT_NEWER = sa.or_(AGENTS.c.synced_version.is_(None), AGENTS.c.synced_version <= sa.bindparam("version"))


def guarded_values(columns: frozenset[str]) -> dict[str, sa.ColumnElement[Any]]:
    """SET expressions that write `columns` only where the compare-and-set holds (for a statement that also
    does something else to the row, such as giving a claim back: claims.release_claim)."""
    return {
        name: sa.case((_NOT_NEWER, sa.bindparam(f"set_{name}", type_=AGENTS.c[name].type)), else_=AGENTS.c[name])
        for name in sorted(columns)
    }


@functools.cache
def _sync_update(columns: frozenset[str], *, held: bool) -> sa.Update:
    """The compare-and-set UPDATE of `columns` (`held`: only while `:owner` holds the claim), built once per
    shape (statement building is the costly part of a short query; every value is a bound parameter)."""
    values = {name: sa.bindparam(f"set_{name}", type_=AGENTS.c[name].type) for name in sorted(columns)}
    conditions = [AGENTS.c.id == sa.bindparam("agent_id"), _NOT_NEWER]
    if held:
        conditions.append(AGENTS.c.lease_owner == sa.bindparam("owner"))
    return sa.update(AGENTS).where(*conditions).values(values)


async def count_agents_by_status(session: AsyncSession) -> dict[str, int]:
    rows = (await session.execute(select(Agent.sync_status, sa.func.count()).group_by(Agent.sync_status))).all()
    return {str(status): int(n) for status, n in rows}
