"""The whole configuration document an agent has in Postgres, and the `AGENT_CONFIG` envelope its bot reads."""

from __future__ import annotations

from pydantic import Field

from agent_schema.deployment import DeploymentConfig, Region, SessionCap
from agent_schema.fields import StrictModel
from agent_schema.llm_context import LLMContextConfig
from agent_schema.secrets import KEY_RULE, Secrets


class AgentConfigDocument(StrictModel):
    """An agent's configuration: `{deployment, llm_context, secrets}`, one row of `agent_configurations`.

    Unknown keys and wrong JSON types are errors everywhere. A few rules of the models cannot be expressed in JSON
    Schema, so only they check them: each of `llm_context.inappropriate_patterns` must compile as a Python regular
    expression; `business_hours.timezone` must be a known IANA time zone, and each of its `hours` must close after
    it opens."""

    deployment: DeploymentConfig = Field(
        default_factory=DeploymentConfig,
        json_schema_extra={"default": {}},
        description="How Pipecat Cloud runs the agent; absent: every field's default.",
    )
    llm_context: LLMContextConfig = Field(description="What the agent says and knows.")
    secrets: Secrets = Field(
        {},
        description="The agent's own secrets, given to its bot as environment variables; they override "
        f"config-sync's shared `AGENT_SECRET_*`. Each key {KEY_RULE}; `AGENT_CONFIG` is reserved (config-sync "
        "writes it). Values are strings.",
    )


class AgentConfigEnvelope(StrictModel):
    """`AGENT_CONFIG`: what config-sync writes into the agent's secret set and the bot reads at every session:
    the version's `llm_context`, and what the bot must know of its deployment."""

    agent_id: str = Field(min_length=1, description="The agent's id in Postgres.")
    version: int = Field(ge=1, description="The configuration version this is.")
    llm_context: LLMContextConfig = Field(description="The version's `llm_context`.")
    max_session_duration: SessionCap | None = Field(
        None,
        description="The deployment's session cap in seconds, which the bot wraps up before; absent: Pipecat "
        "Cloud's 7200.",
    )
    region: Region | None = Field(
        None, description="The region the agent runs in (its phone stream's URL); absent: the default region."
    )
