"""The one definition of an agent's configuration, shared by config-sync (the daemon) and the bot image.

It depends on pydantic only. Models by part: `deployment`, `llm_context` (with `call_records` and `webhooks`),
`secrets`, the whole document, and the `AGENT_CONFIG` envelope; `parse` validates and `InvalidConfiguration`
says what is wrong, path by path.
"""

from agent_schema.call_records import WEBHOOK_EVENTS, CallRecordsConfig, WebhookEndpoint, WebhooksConfig
from agent_schema.deployment import DeploymentConfig
from agent_schema.document import AgentConfigDocument, AgentConfigEnvelope
from agent_schema.json_schema import json_schema
from agent_schema.llm_context import KnowledgeSnippet, LLMContextConfig
from agent_schema.secrets import Secrets
from agent_schema.validation import InvalidConfiguration, Parsed, error_lines, parse

__all__ = [
    "WEBHOOK_EVENTS",
    "AgentConfigDocument",
    "AgentConfigEnvelope",
    "CallRecordsConfig",
    "DeploymentConfig",
    "InvalidConfiguration",
    "KnowledgeSnippet",
    "LLMContextConfig",
    "Parsed",
    "Secrets",
    "WebhookEndpoint",
    "WebhooksConfig",
    "error_lines",
    "json_schema",
    "parse",
]
