"""parse() for older readers (unknown fields left out, every other rule kept), the AGENT_CONFIG envelope, paths
that are not identifiers, and errors that never carry a secret value."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from agent_schema import AgentConfigDocument, AgentConfigEnvelope, InvalidConfiguration, LLMContextConfig, parse
from agent_schema.validation import error_lines, path

ENVELOPE: dict[str, Any] = {
    "agent_id": "8c7e6f1a-0000-4000-8000-000000000001",
    "version": 4,
    "llm_context": {"system_prompt": "Hi"},
}
NEW_CONTEXT: dict[str, Any] = {
    "system_prompt": "Hi",
    "recording": {"enabled": True},
    "knowledge_base": [{"title": "Hours", "content": "9 to 5", "source": "wiki"}],
}
NEWER = ENVELOPE | {"schema": 2, "llm_context": NEW_CONTEXT}


def test_the_envelope_the_bot_reads() -> None:
    parsed = parse(AgentConfigEnvelope, ENVELOPE, root="AGENT_CONFIG")
    assert (parsed.value.version, parsed.value.llm_context.voice_id, parsed.ignored) == (4, "matthew", ())
    with pytest.raises(InvalidConfiguration) as refused:
        parse(AgentConfigEnvelope, ENVELOPE | {"version": 0, "agent_id": 7}, root="AGENT_CONFIG")
    assert refused.value.lines == [
        "AGENT_CONFIG.agent_id: must be a string, not a number",
        "AGENT_CONFIG.version: must be at least 1",
    ]


def test_the_envelope_tells_the_bot_its_session_cap_and_region() -> None:
    parsed = parse(AgentConfigEnvelope, ENVELOPE | {"max_session_duration": 900, "region": "eu-central"})
    assert (parsed.value.max_session_duration, parsed.value.region) == (900, "eu-central")
    assert parse(AgentConfigEnvelope, ENVELOPE).value.max_session_duration is None  # Pipecat Cloud's default
    with pytest.raises(InvalidConfiguration) as refused:
        parse(AgentConfigEnvelope, ENVELOPE | {"max_session_duration": 30, "region": "EU"}, root="AGENT_CONFIG")
    assert refused.value.lines == [
        "AGENT_CONFIG.max_session_duration: must be at least 60",
        "AGENT_CONFIG.region: must be a region code such as us-west",
    ]


def test_unknown_fields_are_errors_unless_the_reader_leaves_them_out() -> None:
    with pytest.raises(InvalidConfiguration) as refused:
        parse(AgentConfigEnvelope, NEWER, root="AGENT_CONFIG")
    assert refused.value.lines == [
        "AGENT_CONFIG.llm_context.knowledge_base[0].source: unknown field",
        "AGENT_CONFIG.llm_context.recording: unknown field",
        "AGENT_CONFIG.schema: unknown field",
    ]
    parsed = parse(AgentConfigEnvelope, NEWER, root="AGENT_CONFIG", ignore_unknown=True)
    assert sorted(parsed.ignored) == [
        "AGENT_CONFIG.llm_context.knowledge_base[0].source",
        "AGENT_CONFIG.llm_context.recording",
        "AGENT_CONFIG.schema",
    ]
    assert parsed.value.llm_context.knowledge_base[0].content == "9 to 5"
    assert "source" in NEW_CONTEXT["knowledge_base"][0]  # the caller's document is left as it was


def test_leaving_unknown_fields_out_keeps_every_other_rule() -> None:
    broken = NEWER | {"llm_context": NEW_CONTEXT | {"voice_id": "robot", "tools": ["voicemial"]}}
    with pytest.raises(InvalidConfiguration) as refused:
        parse(AgentConfigEnvelope, broken, root="AGENT_CONFIG", ignore_unknown=True)
    assert [line.split(":")[0] for line in refused.value.lines] == [
        "AGENT_CONFIG.llm_context.voice_id",
        "AGENT_CONFIG.llm_context.tools[0]",
    ]


def test_paths_read_like_the_json_they_point_into() -> None:
    assert path("", ()) == "configuration"
    assert path("llm_context", ("tools", 1)) == "llm_context.tools[1]"
    assert path("", ("secrets", "bad-key", "[key]")) == 'secrets["bad-key"]'
    assert path("AGENT_CONFIG", ("llm_context", "knowledge_base", 0, "title")) == (
        "AGENT_CONFIG.llm_context.knowledge_base[0].title"
    )


def test_error_lines_from_a_validation_error_of_any_part() -> None:
    with pytest.raises(ValidationError) as raised:
        LLMContextConfig.model_validate({"system_prompt": "x", "tools": ["end_call", "voicemial"]})
    assert error_lines(raised.value, "llm_context") == [
        "llm_context.tools[1]: unknown tool 'voicemial' (known: get_current_weather, end_call, transfer_call, "
        "voicemail, schedule_callback)"
    ]


def test_no_secret_value_reaches_an_error() -> None:
    secret = "Sk-Live 0123456789abcdef"  # fails every rule of the fields it is put in
    document = {
        "llm_context": {"system_prompt": "x", "greeting": {"token": secret}, "webhooks": secret},
        "deployment": {"image": secret, "region": secret},
        "secrets": {"lower_case": secret, "LONG": secret * 3000, "AGENT_CONFIG": secret, "NUMBER": [secret]},
    }
    with pytest.raises(InvalidConfiguration) as refused:
        parse(AgentConfigDocument, document)
    assert len(refused.value.lines) == 8
    assert secret not in str(refused.value)
    with pytest.raises(ValidationError) as raised:  # nor pydantic's own message, should anyone log it
        AgentConfigDocument.model_validate(document)
    assert secret not in str(raised.value)
