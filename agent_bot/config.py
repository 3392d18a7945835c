"""The bot's side of the configuration. `AGENT_CONFIG` (from the secret set) and context updates are read with
the shared schema (`agent_schema`); what is here is what the bot makes of them: the tools it offers, the
system instruction, and the per-call overrides a configuration permits.

A configuration written by a newer config-sync than this image may hold fields the image does not know. They
are left out, with one warning per field per process, and the session runs: config-sync has already validated
the document against its newer schema, and refusing every call until the image is rebuilt would turn a
deployment-order mismatch into an outage. Every rule this image does know still applies.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from typing import Any

from loguru import logger
from pydantic import BaseModel

import agent_schema
from agent_schema import AgentConfigEnvelope, LLMContextConfig


class AgentConfigError(ValueError):
    """The configuration cannot be used; the message names every field at fault (`path: rule; …`)."""


_ignored_reported: set[str] = set()  # unknown fields already warned about in this process, as llm_context.x


def parse_agent_config(raw: str | bytes | Mapping[str, Any]) -> AgentConfigEnvelope:
    """Validate an `AGENT_CONFIG` document; `AgentConfigError` names every offending field."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else raw
    except ValueError as exc:
        raise AgentConfigError(f"AGENT_CONFIG is not JSON: {exc}") from None
    return _parse(AgentConfigEnvelope, data, "AGENT_CONFIG")


def parse_context(raw: Any) -> LLMContextConfig:
    """Validate the `llm_context` of a context update (`POST /context`)."""
    return _parse(LLMContextConfig, raw, "llm_context")


def _parse[M: BaseModel](model: type[M], data: Any, root: str) -> M:
    try:
        parsed = agent_schema.parse(model, data, root=root, ignore_unknown=True)
    except agent_schema.InvalidConfiguration as exc:
        raise AgentConfigError(str(exc)) from None
    # the same field, whether it came in AGENT_CONFIG or in a context update, is reported once
    new = [field for field in parsed.ignored if field.removeprefix("AGENT_CONFIG.") not in _ignored_reported]
    if new:
        _ignored_reported.update(field.removeprefix("AGENT_CONFIG.") for field in new)
        logger.warning(
            f"ignored configuration fields this bot image does not know (a newer config-sync wrote them; "
            f"deploy a newer image to use them): {', '.join(new)}"
        )
    return parsed.value


def load_agent_config(environ: Mapping[str, str] | None = None) -> AgentConfigEnvelope:
    raw = (environ if environ is not None else os.environ).get("AGENT_CONFIG")
    if not raw:
        raise AgentConfigError("AGENT_CONFIG is not set (config-sync writes it into the agent's secret set)")
    return parse_agent_config(raw)


def offered_tools(context: LLMContextConfig) -> list[str]:
    """The tools to offer: `transfer_call` only when there is somewhere to transfer to; `flag_inappropriate` with
    `max_inappropriate_attempts` (the guardrail's tool, not one a configuration lists)."""
    tools = [t for t in context.tools if t != "transfer_call" or context.transfer_number]
    return tools + ["flag_inappropriate"] * (context.max_inappropriate_attempts is not None)


def system_instruction(context: LLMContextConfig, caller: Mapping[str, str] | None = None) -> str:
    """The prompt, then the guardrails as rules, the knowledge base, and what the call told us about itself."""
    parts = [context.system_prompt.strip()]
    if context.guardrails:
        parts.append("Rules you must always follow:\n" + "\n".join(f"- {g}" for g in context.guardrails))
    if context.knowledge_base:
        parts.append(
            "Reference knowledge:\n" + "\n\n".join(f"## {k.title}\n{k.content}" for k in context.knowledge_base)
        )
    facts = sorted((k, v) for k, v in (caller or {}).items() if k != "greeting")
    if facts:
        parts.append("About this call: " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts) + ".")
    return "\n\n".join(parts)


def call_overrides(context: LLMContextConfig, body: Any) -> dict[str, str]:
    """The per-call values the configuration permits, from an untrusted session body; everything else is ignored.

    Values are flattened to one line of at most 200 characters (they end up in the system instruction).
    """
    if not isinstance(body, Mapping):
        return {}
    values = {
        k: " ".join(str(body[k]).split())[:200] for k in context.allowed_overrides if isinstance(body.get(k), str | int)
    }
    return {k: v for k, v in values.items() if v}
