"""What an agent configuration row means for Pipecat Cloud: the deployment spec and the secret set."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from config_sync_service.core.config import image_has_tag
from config_sync_service.core.errors import ClassifiedError


class InvalidConfigurationError(ClassifiedError):
    """The stored configuration cannot be deployed; permanent until the configuration changes."""

    reason = "invalid_configuration"


class DeploymentConfig(BaseModel):
    """The `deployment` JSONB column. Unknown keys are ignored (the dashboard may store more)."""

    model_config = ConfigDict(extra="ignore")

    image: str | None = None
    agent_profile: Literal["agent-1x", "agent-2x", "agent-3x"] | str | None = None
    min_agents: Annotated[int, Field(ge=0, le=50)] | None = None
    max_agents: Annotated[int, Field(ge=1, le=50)] | None = None
    region: str | None = None
    krisp_viva_audio_filter: Literal["tel", "pro"] | None = None
    max_session_duration: Annotated[int, Field(ge=60, le=14400)] | None = None
    image_pull_secret_set: str | None = None

    @field_validator("image")
    @classmethod
    def _tagged(cls, value: str | None) -> str | None:
        if value is not None and not image_has_tag(value):
            raise ValueError(f"image {value!r} has no tag (use repo:tag)")
        return value

    @model_validator(mode="after")
    def _scaling(self) -> DeploymentConfig:
        if self.min_agents is not None and self.max_agents is not None and self.max_agents < self.min_agents:
            raise ValueError("max_agents must be >= min_agents")
        return self


def parse_deployment(raw: Mapping[str, Any]) -> DeploymentConfig:
    try:
        return DeploymentConfig.model_validate(dict(raw))
    except ValidationError as exc:
        error = exc.errors()[0]
        where = ".".join(str(p) for p in error["loc"]) or "deployment"
        message = str(error["msg"]).removeprefix("Value error, ")
        raise InvalidConfigurationError(f"deployment.{where}: {message}") from None


def region_of(configured: str | None, default_region: str | None) -> str | None:
    """Where an agent runs: its configuration's `deployment.region`, else config-sync's `AGENT_REGION` (None:
    Pipecat Cloud's default region)."""
    return configured or default_region


def secret_set_name(pipecat_agent_name: str) -> str:
    return f"{pipecat_agent_name}-config"


def secret_set_values(
    *,
    agent_id: str,
    version: int,
    llm_context: Mapping[str, Any],
    shared: Mapping[str, str],
    own: Mapping[str, Any],
    deployment: DeploymentConfig | None = None,
    default_region: str | None = None,
) -> dict[str, str]:
    """Everything the bot reads from its environment: AGENT_CONFIG, shared secrets, the agent's own (which win).

    AGENT_CONFIG also tells the bot what it must know of its deployment: the session cap it wraps calls up before,
    and the region its phone stream comes through (the configured one, else config-sync's default)."""
    values = dict(shared)
    values.update({str(k): v if isinstance(v, str) else json.dumps(v) for k, v in own.items()})
    envelope: dict[str, Any] = {"agent_id": agent_id, "version": version, "llm_context": dict(llm_context)}
    session = {
        "max_session_duration": deployment.max_session_duration if deployment else None,
        "region": region_of(deployment.region if deployment else None, default_region),
    }
    envelope.update({k: v for k, v in session.items() if v is not None})
    values["AGENT_CONFIG"] = json.dumps(envelope, sort_keys=True)
    return values


def digest(value: Any) -> str:
    """A stable hash of JSON-able data (what was last pushed, to choose the smallest operation)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
