"""`llm_context`: what the agent says and knows (prompt, greeting, voice, tools, knowledge, transfer target), and
what it keeps of each call and whom it tells (`call_records`, `webhooks`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from agent_schema.call_records import CallRecordsConfig, WebhooksConfig
from agent_schema.fields import Matches, OneOf, StrictModel

TOOLS = ("get_current_weather", "end_call", "transfer_call")
# session-body keys a configuration may let a call set: `greeting` replaces the greeting, the others are facts
# about the call added to the system instruction
OVERRIDABLE = ("caller_name", "language", "greeting")

DEFAULT_MODEL = "amazon.nova-2-sonic-v1:0"
NOVA_SONIC_V1 = "amazon.nova-sonic-v1:0"
# Amazon Nova Sonic voice ids (`audioOutputConfiguration.voiceId`).
# Nova 2 Sonic: the 16 of AWS's "Language support and multilingual capabilities" page
# (https://docs.aws.amazon.com/nova/latest/nova2-userguide/sonic-language-support.html), as listed by
# livekit/agents (livekit-plugins-aws, experimental/realtime/types.py: SONIC2_VOICES).
NOVA_2_VOICES = (
    "matthew", "tiffany",  # en-US, polyglot (speak every supported language)
    "amy",  # en-GB
    "olivia",  # en-AU
    "kiara", "arjun",  # en-IN, hi-IN
    "ambre", "florian",  # fr-FR
    "beatrice", "lorenzo",  # it-IT
    "tina", "lennart",  # de-DE
    "lupe", "carlos",  # es-US
    "carolina", "leo",  # pt-BR
)  # fmt: skip
# First-generation Nova Sonic (amazon.nova-sonic-v1:0): AWS's "Voices available for Amazon Nova Sonic"
# (https://docs.aws.amazon.com/nova/latest/userguide/available-voices.html): 11 voices, German feminine is `greta`.
NOVA_1_VOICES = (
    "matthew", "tiffany", "amy", "ambre", "florian", "beatrice", "lorenzo", "greta", "lennart", "lupe", "carlos"
)  # fmt: skip
VOICES = NOVA_2_VOICES + tuple(v for v in NOVA_1_VOICES if v not in NOVA_2_VOICES)

TRANSFER_PATTERN = r"^(?:\+[1-9][0-9]{6,14}|sip:\S+)$"

Tool = Annotated[str, OneOf("tool", TOOLS)]
Override = Annotated[str, OneOf("override", OVERRIDABLE)]
Voice = Annotated[str, OneOf("voice", VOICES)]
Prompt = Annotated[str, Field(max_length=50_000), Matches(r"\S", "must not be blank")]
TransferTarget = Annotated[
    str, Field(max_length=256), Matches(TRANSFER_PATTERN, "must be an E.164 number (+15551234567) or a sip: URI")
]


def voices_of(model: str) -> tuple[str, ...]:
    """The voices a Nova Sonic model speaks with (every model but the first generation has Nova 2's)."""
    return NOVA_1_VOICES if model == NOVA_SONIC_V1 else NOVA_2_VOICES


class KnowledgeSnippet(StrictModel):
    """A piece of reference knowledge added to the system instruction."""

    title: str = Field(min_length=1, max_length=200, description="Heading of the snippet.")
    content: str = Field(min_length=1, max_length=20_000, description="The text.")


class LLMContextConfig(StrictModel):
    """What the agent says and knows."""

    # `voice_id` must be a voice of `model`; the same rule for JSON Schema readers
    model_config = ConfigDict(
        json_schema_extra={
            "if": {"properties": {"model": {"const": NOVA_SONIC_V1}}, "required": ["model"]},
            "then": {"properties": {"voice_id": {"enum": list(NOVA_1_VOICES)}}},
            "else": {"properties": {"voice_id": {"enum": list(NOVA_2_VOICES)}}},
        }
    )

    system_prompt: Prompt = Field(description="The agent's instructions; must not be blank.")
    greeting: str | None = Field(
        None, max_length=2_000, description="What the agent says first; absent: a short greeting of its own."
    )
    model: str = Field(DEFAULT_MODEL, min_length=1, max_length=200, description="Amazon Bedrock Nova Sonic model id.")
    voice_id: Voice = Field(
        "matthew",
        description=f"Nova Sonic voice, one the model has: `{NOVA_SONIC_V1}` lacks "
        + ", ".join(f"`{v}`" for v in NOVA_2_VOICES if v not in NOVA_1_VOICES)
        + "; later models lack "
        + ", ".join(f"`{v}`" for v in NOVA_1_VOICES if v not in NOVA_2_VOICES)
        + ".",
    )
    endpointing_sensitivity: Literal["LOW", "MEDIUM", "HIGH"] | None = Field(
        None, description="How soon a pause ends the caller's turn (Nova 2 models); absent: the model's default."
    )
    tools: list[Tool] = Field(
        default=[],
        description="Tools the agent may use; `transfer_call` is offered only on phone calls, with a "
        "`transfer_number`.",
    )
    knowledge_base: list[KnowledgeSnippet] = Field(
        default=[], max_length=100, description="Reference knowledge, added to the instructions."
    )
    guardrails: list[Annotated[str, Field(min_length=1, max_length=2_000)]] = Field(
        default=[], max_length=50, description="Rules the agent must always follow, added to the instructions."
    )
    transfer_number: TransferTarget | None = Field(
        None,
        description="Where `transfer_call` sends the caller: an E.164 number (`+15551234567`) or a `sip:` URI.",
    )
    allowed_overrides: list[Override] = Field(
        default=[],
        description="Session-body keys a call may set: `greeting` replaces the greeting, `caller_name` and "
        "`language` are told to the agent.",
    )
    call_records: CallRecordsConfig | None = Field(
        None,
        description="Where the bot keeps every call: `transcript.json`, `metadata.json` and (with `recording`) "
        "`recording.wav` under `<prefix>/agents/<agent_id>/calls/<call_id>/` in S3-compatible storage, with the "
        "credentials `CALL_RECORDS_AWS_ACCESS_KEY_ID`, `CALL_RECORDS_AWS_SECRET_ACCESS_KEY` (and optionally "
        "`CALL_RECORDS_AWS_SESSION_TOKEN`) from the agent's secrets; absent: nothing kept.",
    )
    webhooks: WebhooksConfig | None = Field(
        None,
        description="Signed webhooks about every call (Standard Webhooks), signed with `WEBHOOK_SIGNING_SECRET` "
        "(`whsec_` + base64 of 24 to 64 bytes) from the agent's secrets; absent: none sent.",
    )

    @field_validator("voice_id")
    @classmethod
    def _voice_of_model(cls, value: str, info: ValidationInfo) -> str:
        model = info.data.get("model")  # absent when the model itself was invalid: reported there
        if model is not None and value not in voices_of(model):
            raise ValueError(f"voice '{value}' is not available on {model}")
        return value
