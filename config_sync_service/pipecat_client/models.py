"""Typed requests and responses: snake_case in Python, camelCase on the wire."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel


class AgentSpec(BaseModel):
    """What config-sync deploys: the body of create (`POST /agents`) and update (`POST /agents/{name}`)."""

    model_config = ConfigDict(frozen=True)

    service_name: str
    image: str
    secret_set: str | None = None
    region: str | None = None
    agent_profile: str | None = None
    min_agents: int | None = None
    max_agents: int | None = None
    krisp_viva_audio_filter: str | None = None
    max_session_duration: int | None = None
    image_pull_secret_set: str | None = None
    enable_krisp: bool | None = None

    def _common(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "image": self.image,
            "secretSet": self.secret_set,
            "agentProfile": self.agent_profile,
            "maxSessionDuration": self.max_session_duration,
            "imagePullSecretSet": self.image_pull_secret_set,
            "enableKrisp": self.enable_krisp,
        }
        scaling = {"minAgents": self.min_agents, "maxAgents": self.max_agents}
        if any(v is not None for v in scaling.values()):
            body["autoScaling"] = {k: v for k, v in scaling.items() if v is not None}
        if self.krisp_viva_audio_filter is not None:
            body["krispViva"] = {"audioFilter": self.krisp_viva_audio_filter}
        return {k: v for k, v in body.items() if v is not None}

    def to_create_body(self) -> dict[str, Any]:
        body = {"serviceName": self.service_name, **self._common()}
        if self.region is not None:
            body["region"] = self.region
        return body

    def to_update_body(self, *, force_redeploy: bool) -> dict[str, Any]:
        """There is no region on update; `forceRedeploy` makes a new revision even for identical config."""
        return {**self._common(), "forceRedeploy": force_redeploy}


class _Wire(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")


class AgentStatus(_Wire):
    """ServiceDetails reduced to what a deployment's progress needs."""

    name: str
    ready: bool = False
    available: bool = False
    desired_deployment_id: str | None = None
    reconciled_deployment_id: str | None = None
    revision_phase: str | None = None
    errors: list[str] = Field(default_factory=list)
    active_session_count: int | None = None  # None: not in the answer
    warning: str | None = None

    @classmethod
    def from_service(cls, data: dict[str, Any]) -> AgentStatus:
        revision = data.get("currentRevision") or {}
        errors = [
            f"{e.get('code', 'ERROR')}: {e.get('message') or e.get('error') or ''}".rstrip(": ")
            for e in data.get("errors") or []
            if isinstance(e, dict)
        ]
        return cls.model_validate(
            {**data, "revisionPhase": revision.get("phase") if isinstance(revision, dict) else None, "errors": errors}
        )

    @property
    def is_deployed(self) -> bool:
        """The update is done: Pipecat's operator caught up with the desired deployment and it is ready."""
        return (
            self.ready
            and self.desired_deployment_id is not None
            and self.desired_deployment_id == self.reconciled_deployment_id
            and not self.has_failed
        )

    @property
    def has_failed(self) -> bool:
        return bool(self.errors) or self.revision_phase == "Failed"


class SecretSetInfo(_Wire):
    name: str
    status: str | None = None
    region: str | None = None
    keys: list[str] = Field(default_factory=list)
    error_message: str | None = None


class SessionInfo(_Wire):
    session_id: str
    deployment_id: str | None = None
    ended_at: str | None = None
    created_at: str | None = None
