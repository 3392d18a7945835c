"""The agent configuration the bot runs with: `AGENT_CONFIG` from the secret set, plus permitted per-call overrides."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

ToolName = Literal["get_current_weather", "end_call", "transfer_call"]
E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# session-body keys a configuration may let a call set: `greeting` replaces the greeting, the others are facts
# about the call added to the system instruction
OVERRIDABLE = {"caller_name", "language", "greeting"}


class AgentConfigError(ValueError):
    """The configuration cannot be used; the message names the field."""


class KnowledgeSnippet(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
    title: str = Field(min_length=1, max_length=200)
    content: str = Field(min_length=1, max_length=20_000)


class LLMContextConfig(BaseModel):
    """What the agent says and knows (config-sync's `llm_context` column).

    Unknown keys are ignored (a newer config-sync may store more); known ones are validated strictly (no coercion).
    """

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    system_prompt: str = Field(min_length=1, max_length=50_000)
    greeting: str | None = Field(None, max_length=2_000)
    voice_id: str = Field("matthew", pattern=r"^[a-z_]{2,40}$")
    tools: list[ToolName] = Field(default_factory=list)
    knowledge_base: list[KnowledgeSnippet] = Field(default_factory=list)
    guardrails: list[Annotated[str, Field(min_length=1, max_length=2_000)]] = Field(default_factory=list)
    transfer_number: str | None = None
    webhooks: dict[str, Any] | None = None  # stored by config-sync for other consumers; the bot ignores it
    model: str | None = Field(None, min_length=1, max_length=200)
    endpointing_sensitivity: Literal["LOW", "MEDIUM", "HIGH"] | None = None
    allowed_overrides: list[str] = Field(default_factory=list)

    @field_validator("transfer_number")
    @classmethod
    def _transfer_target(cls, value: str | None) -> str | None:
        if value is not None and not (E164.match(value) or value.startswith("sip:")):
            raise ValueError("must be an E.164 phone number (+15551234567) or a sip: URI")
        return value

    @field_validator("allowed_overrides")
    @classmethod
    def _known_overrides(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - OVERRIDABLE)
        if unknown:
            raise ValueError(f"unknown overrides {unknown}; allowed: {sorted(OVERRIDABLE)}")
        return value

    def enabled_tools(self) -> list[ToolName]:
        """The tools to offer: `transfer_call` only when there is somewhere to transfer to."""
        return [t for t in self.tools if t != "transfer_call" or self.transfer_number]

    def system_instruction(self, caller: Mapping[str, str] | None = None) -> str:
        """The prompt, then the guardrails as rules, the knowledge base, and what the call told us about itself."""
        parts = [self.system_prompt.strip()]
        if self.guardrails:
            parts.append("Rules you must always follow:\n" + "\n".join(f"- {g}" for g in self.guardrails))
        if self.knowledge_base:
            parts.append(
                "Reference knowledge:\n" + "\n\n".join(f"## {k.title}\n{k.content}" for k in self.knowledge_base)
            )
        facts = sorted((k, v) for k, v in (caller or {}).items() if k != "greeting")
        if facts:
            parts.append("About this call: " + ", ".join(f"{k.replace('_', ' ')}: {v}" for k, v in facts) + ".")
        return "\n\n".join(parts)


class AgentConfig(BaseModel):
    """`AGENT_CONFIG`: `{"agent_id", "version", "llm_context"}`, written by config-sync into the secret set."""

    model_config = ConfigDict(extra="ignore", frozen=True, strict=True)

    agent_id: str = Field(min_length=1)
    version: int = Field(ge=1)
    llm_context: LLMContextConfig


def _describe(exc: ValidationError, prefix: str) -> str:
    error = exc.errors()[0]
    where = ".".join(str(p) for p in error["loc"])
    return f"{prefix}{'.' + where if where else ''}: {str(error['msg']).removeprefix('Value error, ')}"


def parse_agent_config(raw: str | bytes | Mapping[str, Any]) -> AgentConfig:
    """Validate an `AGENT_CONFIG` document; `AgentConfigError` names the offending field."""
    try:
        data = json.loads(raw) if isinstance(raw, str | bytes) else dict(raw)
    except ValueError as exc:
        raise AgentConfigError(f"AGENT_CONFIG is not JSON: {exc}") from None
    try:
        return AgentConfig.model_validate(data)
    except ValidationError as exc:
        raise AgentConfigError(_describe(exc, "AGENT_CONFIG")) from None


def parse_context(raw: Mapping[str, Any]) -> LLMContextConfig:
    try:
        return LLMContextConfig.model_validate(dict(raw))
    except ValidationError as exc:
        raise AgentConfigError(_describe(exc, "llm_context")) from None


def load_agent_config(environ: Mapping[str, str] | None = None) -> AgentConfig:
    raw = (environ if environ is not None else os.environ).get("AGENT_CONFIG")
    if not raw:
        raise AgentConfigError("AGENT_CONFIG is not set (config-sync writes it into the agent's secret set)")
    return parse_agent_config(raw)


def call_overrides(config: LLMContextConfig, body: Any) -> dict[str, str]:
    """The per-call values the configuration permits, from an untrusted session body; everything else is ignored.

    Values are flattened to one line of at most 200 characters (they end up in the system instruction).
    """
    if not isinstance(body, Mapping):
        return {}
    values = {
        k: " ".join(str(body[k]).split())[:200] for k in config.allowed_overrides if isinstance(body.get(k), str | int)
    }
    return {k: v for k, v in values.items() if v}
