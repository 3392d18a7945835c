"""The configuration document's JSON Schema (draft 2020-12), for dashboards and backends to validate against."""

from __future__ import annotations

from typing import Any

from agent_schema.document import AgentConfigDocument

DIALECT = "https://json-schema.org/draft/2020-12/schema"


def json_schema() -> dict[str, Any]:
    """The schema of `{deployment, llm_context, secrets}`, generated from the models (so it cannot drift)."""
    return {"$schema": DIALECT, **AgentConfigDocument.model_json_schema(mode="validation")}
