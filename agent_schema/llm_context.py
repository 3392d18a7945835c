"""`llm_context`: what the agent says and knows (prompt, greeting, voice, tools, knowledge, transfer target), the
guardrails the bot enforces (conversation length, the wrap-up before the session's cap, inappropriate callers),
voicemail and callbacks, and what it keeps of each call and whom it tells (`call_records`, `webhooks`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

from agent_schema.call_handling import E164, BusinessHours, Regex, VoicemailConfig
from agent_schema.call_records import CallRecordsConfig, WebhooksConfig
from agent_schema.fields import Matches, OneOf, StrictModel

TOOLS = ("get_current_weather", "end_call", "transfer_call", "voicemail", "schedule_callback")
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

    # the rules between fields, for JSON Schema readers too: `voice_id` must be a voice of `model`; patterns need
    # the attempts they count against; the voicemail tool needs somewhere to keep the messages
    model_config = ConfigDict(
        json_schema_extra={
            "allOf": [
                {
                    "if": {"properties": {"model": {"const": NOVA_SONIC_V1}}, "required": ["model"]},
                    "then": {"properties": {"voice_id": {"enum": list(NOVA_1_VOICES)}}},
                    "else": {"properties": {"voice_id": {"enum": list(NOVA_2_VOICES)}}},
                },
                {
                    "if": {
                        "properties": {"inappropriate_patterns": {"minItems": 1}},
                        "required": ["inappropriate_patterns"],
                    },
                    "then": {
                        "properties": {"max_inappropriate_attempts": {"type": "integer"}},
                        "required": ["max_inappropriate_attempts"],
                    },
                },
                {
                    "if": {"properties": {"tools": {"contains": {"const": "voicemail"}}}, "required": ["tools"]},
                    "then": {"properties": {"call_records": {"type": "object"}}, "required": ["call_records"]},
                },
            ]
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
        "`transfer_number`; `voicemail` records a message (it needs `call_records`, where messages are kept); "
        "`schedule_callback` takes a time and a number for a callback. `flag_inappropriate` is not listed here: "
        "it comes with `max_inappropriate_attempts`.",
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
    max_conversation_length: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="The caller's turns in one call: once the caller has spoken this many times, the agent wraps up "
        "(says the call must end, says goodbye) and ends the call (`conversation_limit`); absent: no limit.",
    )
    wrap_up_before_s: int = Field(
        30,
        ge=10,
        le=600,
        description="Seconds before the session's cap (`deployment.max_session_duration`, or Pipecat Cloud's 7200) "
        "at which the agent wraps up, so the call ends cleanly (`session_limit`) before the platform cuts it "
        "(never before half the cap).",
    )
    max_inappropriate_attempts: int | None = Field(
        None,
        ge=1,
        le=20,
        description="Inappropriate caller turns the agent warns about; the next one ends the call "
        "(`inappropriate`). A turn counts when the caller's words match `inappropriate_patterns` or the agent "
        "flags it with the `flag_inappropriate` tool (offered when this is set: what counts is what the "
        "instructions call inappropriate); absent: off.",
    )
    inappropriate_patterns: list[Regex] = Field(
        default=[],
        max_length=100,
        description="Regular expressions (Python syntax, case-insensitive) checked against each transcribed caller "
        "turn; needs `max_inappropriate_attempts`.",
    )
    voicemail: VoicemailConfig | None = Field(
        None,
        description="How the `voicemail` tool records a message; absent: at most 120 s, ended by 4 s of silence.",
    )
    business_hours: BusinessHours | None = Field(
        None,
        description="When `schedule_callback` may schedule a callback; absent: any time in the future.",
    )
    callback_summary_number: E164 | None = Field(
        None,
        description="Where `schedule_callback` texts a summary of each callback (Twilio's Messages API, from "
        "`TWILIO_SMS_FROM` or else the number the caller dialled); absent: no text.",
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

    @field_validator("inappropriate_patterns")
    @classmethod
    def _patterns_count_somewhere(cls, value: list[str], info: ValidationInfo) -> list[str]:
        if value and info.data.get("max_inappropriate_attempts", 0) is None:  # 0: invalid itself, reported there
            raise PydanticCustomError("needs", "needs max_inappropriate_attempts (what the matches count against)")
        return value

    @model_validator(mode="after")
    def _voicemail_is_kept(self) -> LLMContextConfig:
        if "voicemail" in self.tools and self.call_records is None:
            raise PydanticCustomError("needs", "the voicemail tool needs call_records (where messages are kept)")
        return self
