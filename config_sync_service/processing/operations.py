"""The Pipecat Cloud side of each operation (DESIGN §4). No database access here: callers hold no connection."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from agent_schema import AgentConfigDocument, DeploymentConfig
from config_sync_service.core.logging import get_logger
from config_sync_service.db.models import Agent, AgentConfiguration
from config_sync_service.db.session_versions import APPLIED, REFUSED, STALE, SessionAck
from config_sync_service.pipecat_client.client import PipecatCloudClient
from config_sync_service.pipecat_client.errors import (
    PipecatAlreadyExistsError,
    PipecatApiError,
    PipecatAuthError,
    PipecatConflictError,
    PipecatNotFoundError,
    PipecatValidationError,
)
from config_sync_service.pipecat_client.models import AgentSpec, AgentStatus
from config_sync_service.processing.config import ProcessorConfig
from config_sync_service.schemas import agent_config

log = get_logger("config_sync.operations")
PUSH_CONCURRENCY = 10  # context pushes in flight per agent


@dataclass(frozen=True, slots=True)
class SessionReport:
    """What a context push learned: the sessions still live, and what each bot answered (a session that said
    nothing, for want of a public key, is live with no answer)."""

    active: tuple[str, ...]
    acks: tuple[SessionAck, ...]

    @property
    def refused(self) -> int:
        return sum(ack.outcome == REFUSED for ack in self.acks)


@dataclass(frozen=True, slots=True)
class Target:
    """Everything an operation needs about one agent at one version."""

    name: str
    set_name: str
    version: int
    deployment: DeploymentConfig
    secret_values: dict[str, str]
    llm_context: dict[str, Any]
    default_image: str
    default_region: str | None

    @classmethod
    def of(
        cls, agent: Agent, config: AgentConfiguration, document: AgentConfigDocument, settings: ProcessorConfig
    ) -> Target:
        """The target of an agent's active configuration, `document` being that configuration validated."""
        return cls(
            name=agent.pipecat_agent_name,
            set_name=agent_config.secret_set_name(agent.pipecat_agent_name),
            version=config.version,
            deployment=document.deployment,
            secret_values=agent_config.secret_set_values(
                agent_id=str(agent.id),
                version=config.version,
                document=document,
                shared=settings.shared_secrets,
                default_region=settings.agent_region,
            ),
            llm_context=agent_config.as_json(document.llm_context),
            default_image=settings.agent_image,
            default_region=settings.agent_region,
        )

    def spec(self) -> AgentSpec:
        d = self.deployment
        return AgentSpec(
            service_name=self.name,
            image=d.image or self.default_image,
            secret_set=self.set_name,
            region=agent_config.region_of(d.region, self.default_region),
            agent_profile=d.agent_profile,
            min_agents=d.min_agents,
            max_agents=d.max_agents,
            krisp_viva_audio_filter=d.krisp_viva_audio_filter,
            max_session_duration=d.max_session_duration,
            image_pull_secret_set=d.image_pull_secret_set,
        )


class Operations:
    def __init__(self, client: PipecatCloudClient, *, secret_ready_timeout_s: float) -> None:
        self.client = client
        self.secret_ready_timeout_s = secret_ready_timeout_s

    async def provision(self, target: Target) -> AgentStatus:
        """Secret set, then the agent; an agent that already exists is updated instead (converge, not fail). A new
        secret set starts `pending`, so it is waited for before the create."""
        await self.client.upsert_secret_set(target.set_name, target.secret_values, region=target.deployment.region)
        await self.client.wait_secret_set_ready(target.set_name, timeout_s=self.secret_ready_timeout_s)
        try:
            return await self.client.provision_agent(target.spec())
        except PipecatAlreadyExistsError:
            log.info("provision.exists_updating", agent=target.name)
            return await self.client.update_full_config(target.spec(), force_redeploy=True)

    async def update(self, target: Target, *, push_context: bool) -> tuple[AgentStatus, SessionReport | None]:
        """FULL_SYNC / CONTEXT_UPDATE: the secret set, a rolling redeploy (new sessions read the new set), then the
        context pushed into the running sessions, when the agent's details (the update's answer) count any. With
        the push, what each live session answered."""
        await self.client.upsert_secret_set(target.set_name, target.secret_values, region=target.deployment.region)
        try:
            status = await self._when_ready(target, partial(self.client.update_full_config, target.spec()))
        except PipecatNotFoundError:
            log.warning("update.agent_missing_provisioning", agent=target.name)
            status = await self._when_ready(target, partial(self.client.provision_agent, target.spec()))
        if not push_context:
            return status, None
        if status.active_session_count == 0:  # None: not in the answer, so look
            return status, SessionReport((), ())  # no live session: none is behind (ended ones are forgotten)
        try:
            return status, await self.push_context(target)
        except PipecatApiError as exc:  # the redeploy was accepted and brings the context to new sessions anyway
            log.warning("context.push_failed", agent=target.name, error_class=type(exc).__name__)
            return status, None

    async def _when_ready(self, target: Target, call: Callable[..., Awaitable[AgentStatus]]) -> AgentStatus:
        """Make the call as if the secret set were ready (it mostly is: one readiness check saved). Pipecat answers
        409 to a set that is not ready yet (pipecat-cloud-api.md): then wait until it is, and call again."""
        try:
            return await call(retry_conflict=False)
        except PipecatConflictError:
            await self.client.wait_secret_set_ready(target.set_name, timeout_s=self.secret_ready_timeout_s)
            return await call()

    async def push_context(self, target: Target) -> SessionReport:
        """Send the new context into every active session (the bot applies it without a restart); what each
        bot answered is the version its session runs now."""
        try:
            sessions = await self.client.list_sessions(target.name, status="active")
        except PipecatNotFoundError:
            return SessionReport((), ())
        body = {"version": target.version, "llm_context": target.llm_context}
        answers: list[tuple[str, bool, SessionAck | None]] = []
        for start in range(0, len(sessions), PUSH_CONCURRENCY):
            batch = sessions[start : start + PUSH_CONCURRENCY]
            answers += await asyncio.gather(*(self._push_one(target, s.session_id, body) for s in batch))
        report = SessionReport(
            active=tuple(session_id for session_id, alive, _ in answers if alive),
            acks=tuple(ack for _, _, ack in answers if ack is not None),
        )
        if report.refused:
            log.warning("context.push_refused", agent=target.name, version=target.version, sessions=report.refused)
        return report

    async def _push_one(
        self, target: Target, session_id: str, body: dict[str, Any]
    ) -> tuple[str, bool, SessionAck | None]:
        """(the session, still live, what its bot answered: None when nothing was learned)."""
        name = target.name
        try:
            answer = await self.client.send_context_update(name, session_id, body)
        except PipecatNotFoundError:
            return session_id, False, None  # the session ended meanwhile
        except PipecatAuthError as exc:  # no public key: the redeploy still brings the new context
            log.warning("context.push_skipped", agent=name, session_id=session_id, error=str(exc))
            return session_id, True, None
        except PipecatValidationError:  # the bot refused this context: the session keeps the one it runs
            return session_id, True, SessionAck(session_id, await self._running_version(name, session_id), REFUSED)
        version = answer.get("version")
        if answer.get("status") == "stale":
            return session_id, True, SessionAck(session_id, version if isinstance(version, int) else None, STALE)
        return (
            session_id,
            True,
            SessionAck(session_id, version if isinstance(version, int) else target.version, APPLIED),
        )

    async def _running_version(self, name: str, session_id: str) -> int | None:
        """What a session that refused a push runs, as its bot says (`GET /context`); None if it will not say."""
        try:
            version = (await self.client.get_session_context(name, session_id)).get("version")
        except PipecatApiError:
            return None
        return version if isinstance(version, int) else None

    async def deprovision(self, *, name: str, set_name: str) -> int:
        """Delete the agent, stop its sessions (deleting an agent does not end them), delete the secret set."""
        try:
            sessions = await self.client.list_sessions(name, status="active")
        except PipecatNotFoundError:
            sessions = []
        await self.client.deprovision_agent(name)
        for session in sessions:
            await self.client.stop_session(name, session.session_id)
        await self.client.delete_secret_set(set_name)
        return len(sessions)

    async def status(self, name: str) -> AgentStatus:
        return await self.client.get_agent_status(name)
