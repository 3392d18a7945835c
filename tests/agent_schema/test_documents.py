"""Every case through both the models and the JSON Schema: the same documents accepted, the same refused, with
every error named by its path and rule."""

from __future__ import annotations

from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from pydantic import ValidationError

from agent_schema import AgentConfigDocument, InvalidConfiguration, json_schema, parse
from tests.agent_schema.cases import INVALID, VALID, Invalid

SCHEMA = json_schema()
VALIDATOR = jsonschema.Draft202012Validator(SCHEMA)


def model_locs(document: Any) -> list[tuple[int | str, ...]]:
    """Where the models object, as JSON paths (pydantic's `[key]` marker dropped)."""
    try:
        AgentConfigDocument.model_validate(document)
    except ValidationError as exc:
        return [tuple(p for p in e["loc"] if p != "[key]") for e in exc.errors()]
    return []


def test_the_schema_is_draft_2020_12() -> None:
    assert SCHEMA["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    assert "inappropriate_patterns" in SCHEMA["description"]  # the rules the schema cannot express are named


@pytest.mark.parametrize("document", VALID.values(), ids=VALID.keys())
def test_a_valid_document_is_accepted_by_both(document: dict[str, Any]) -> None:
    parsed = parse(AgentConfigDocument, document).value
    assert parsed.llm_context.system_prompt == document["llm_context"]["system_prompt"]
    assert list(VALIDATOR.iter_errors(document)) == []


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_an_invalid_document_names_every_field_and_rule(case: Invalid) -> None:
    with pytest.raises(InvalidConfiguration) as refused:
        parse(AgentConfigDocument, case.document)
    assert refused.value.lines == case.errors
    assert str(refused.value) == "; ".join(case.errors)


@pytest.mark.parametrize("case", INVALID.values(), ids=INVALID.keys())
def test_the_json_schema_refuses_the_same_documents_at_the_same_places(case: Invalid) -> None:
    """Each place the JSON Schema objects to holds a field the models refuse, and each field the models refuse
    is inside a place the JSON Schema objects to (its errors sit on the object when a key is wrong)."""
    schema_paths = [tuple(e.absolute_path) for e in VALIDATOR.iter_errors(case.document)]
    if not case.in_json_schema:
        assert schema_paths == []
        return
    locs = model_locs(case.document)
    assert schema_paths, "the JSON Schema accepted it"
    assert all(any(loc[: len(p)] == p for loc in locs) for p in schema_paths), (schema_paths, locs)
    assert all(any(loc[: len(p)] == p for p in schema_paths) for loc in locs), (schema_paths, locs)
