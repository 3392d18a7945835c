"""What an agent configuration row means for Pipecat Cloud: the document the schema accepts, the secret set.

The configuration itself is defined once, in `agent_schema` (which the bot image shares); here is only what the
daemon makes of it: the classified error for a refused configuration, and the values of the agent's secret set.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from typing import Any

import agent_schema
from agent_schema import AgentConfigDocument, AgentConfigEnvelope
from config_sync_service.core.errors import ClassifiedError


class InvalidConfigurationError(ClassifiedError, agent_schema.InvalidConfiguration):
    """A configuration the schema refuses: permanent until the configuration changes. `lines` has one
    `path: rule` line per error (`llm_context.tools[1]: unknown tool 'voicemial' …`); no input value is quoted."""

    reason = "invalid_configuration"


def parse_document(data: Any) -> AgentConfigDocument:
    """A configuration document (parsed JSON), validated; `InvalidConfigurationError` lists every error."""
    try:
        return agent_schema.parse(AgentConfigDocument, data).value
    except agent_schema.InvalidConfiguration as exc:
        raise InvalidConfigurationError(exc.lines) from None


def parse_parts(*, deployment: Any, llm_context: Any, secrets: Any) -> AgentConfigDocument:
    """The three columns of a configuration row as one document, validated (whatever JSON types they hold)."""
    return parse_document({"deployment": deployment, "llm_context": llm_context, "secrets": secrets})


def as_json(model: agent_schema.LLMContextConfig | AgentConfigEnvelope) -> dict[str, Any]:
    """A validated part as the bot reads it: the fields the configuration set, nothing a default filled in (so a
    bot image older than this daemon is not told about fields nobody set)."""
    return model.model_dump(mode="json", exclude_unset=True)


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
    document: AgentConfigDocument,
    shared: Mapping[str, str],
    default_region: str | None = None,
) -> dict[str, str]:
    """Everything the bot reads from its environment: AGENT_CONFIG (the schema's envelope), the shared secrets,
    and the agent's own (which win).

    AGENT_CONFIG also tells the bot what it must know of its deployment, when it is set: the session cap it wraps
    calls up before, and the region its phone stream comes through (the configured one, else config-sync's)."""
    deployment = document.deployment
    session = {
        "max_session_duration": deployment.max_session_duration,
        "region": region_of(deployment.region, default_region),
    }
    envelope = AgentConfigEnvelope(
        agent_id=agent_id,
        version=version,
        llm_context=document.llm_context,
        **{k: v for k, v in session.items() if v is not None},  # type: ignore[arg-type]
    )
    return dict(shared) | dict(document.secrets) | {"AGENT_CONFIG": json.dumps(as_json(envelope), sort_keys=True)}


def digest(value: Any) -> str:
    """A stable hash of JSON-able data (what was last pushed, to choose the smallest operation)."""
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()
