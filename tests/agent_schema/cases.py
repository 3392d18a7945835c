"""The configuration documents the schema tests run through both the models and the JSON Schema."""

from __future__ import annotations

from typing import Any, NamedTuple

from config_sync_service.devtools.demo import DEMO_AGENTS
from tests.helpers import CONTEXT, DEPLOYMENT

PROMPT = {"system_prompt": "You are the Acme support agent."}
TOOLS = "(known: get_current_weather, end_call, transfer_call, voicemail, schedule_callback)"
VOICES = (
    "(known: matthew, tiffany, amy, olivia, kiara, arjun, ambre, florian, beatrice, lorenzo, tina, lennart, lupe, "
    "carlos, carolina, leo, greta)"
)
URL_RULE = "must be an https:// URL (http:// only to localhost, 127.x.x.x or [::1]), without user:password@"
BUCKET_RULE = "must be an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-'; a-z or 0-9 at both ends)"
PREFIX_RULE = "must be a key prefix such as 'voice/prod': A-Z, a-z, 0-9, !_.*'()- and '/' between parts"
KEY_RULE = "must be an environment variable name: A-Z, 0-9 and _, not starting with a digit, at most 64 characters"

EVERYTHING: dict[str, Any] = {
    "deployment": {
        "image": "ghcr.io/acme/voice-agent:2026.1",
        "agent_profile": "agent-2x",
        "min_agents": 1,
        "max_agents": 3,
        "region": "us-west",
        "krisp_viva_audio_filter": "tel",
        "max_session_duration": 3600,
        "image_pull_secret_set": "acme-registry",
    },
    "llm_context": {
        "system_prompt": "You are the Acme support agent.",
        "greeting": "Hello from Acme!",
        "model": "amazon.nova-2-sonic-v1:0",
        "voice_id": "olivia",
        "endpointing_sensitivity": "HIGH",
        "tools": ["get_current_weather", "end_call", "transfer_call", "voicemail", "schedule_callback"],
        "knowledge_base": [{"title": "Hours", "content": "9 to 5"}],
        "guardrails": ["No refunds over the phone."],
        "transfer_number": "+15555550100",
        "allowed_overrides": ["caller_name", "language", "greeting"],
        "max_conversation_length": 40,
        "wrap_up_before_s": 45,
        "max_inappropriate_attempts": 2,
        "inappropriate_patterns": [r"\bidiot\b", "shut up"],
        "voicemail": {"max_length_s": 90, "silence_s": 3},
        "business_hours": {
            "timezone": "America/New_York",
            "hours": [
                {"days": ["mon", "tue", "wed", "thu", "fri"], "open": "09:00", "close": "17:30"},
                {"days": ["sat"], "open": "10:00", "close": "24:00"},
            ],
        },
        "callback_summary_number": "+15555550199",
        "call_records": {
            "enabled": True,
            "bucket": "acme-calls.eu",
            "prefix": "voice/prod",
            "region": "eu-west-1",
            "endpoint_url": "https://s3.eu-west-1.amazonaws.com",
            "recording": True,
            "keep_caller_number": False,
        },
        "webhooks": {
            "endpoints": [
                {"url": "https://hooks.acme.example/calls?tenant=7", "events": ["call.started", "call.ended"]},
                {"url": "https://transcripts.acme.example/in", "events": ["transcript.ready"]},
            ]
        },
    },
    "secrets": {"TENANT_TWILIO_TOKEN": "t0k3n", "_PRIVATE": ""},
}

VALID: dict[str, dict[str, Any]] = {
    "the smallest": {"llm_context": PROMPT},
    "every field": EVERYTHING,
    "the test helpers' agent": {"deployment": DEPLOYMENT, "llm_context": CONTEXT, "secrets": {}},
    **{
        f"demo agent {d['pipecat_agent_name']}": {"deployment": d["deployment"], "llm_context": d["llm_context"]}
        for d in DEMO_AGENTS
    },
    "first-generation Nova Sonic with its German voice": {
        "llm_context": PROMPT | {"model": "amazon.nova-sonic-v1:0", "voice_id": "greta"}
    },
    "a digest, a SIP transfer, max equal to min": {
        "deployment": {"image": "acme/agent@sha256:" + "a" * 64, "min_agents": 2, "max_agents": 2},
        "llm_context": PROMPT | {"transfer_number": "sip:desk@pbx.example.com", "tools": ["transfer_call"]},
    },
    "null for every optional field": {
        "deployment": dict.fromkeys(EVERYTHING["deployment"]),
        "llm_context": PROMPT
        | {
            "greeting": None,
            "endpointing_sensitivity": None,
            "transfer_number": None,
            "call_records": None,
            "webhooks": None,
            "max_conversation_length": None,
            "max_inappropriate_attempts": None,
            "voicemail": None,
            "business_hours": None,
            "callback_summary_number": None,
        },
    },
    "voicemail kept with the call records; patterns with the attempts they count against; the new events": {
        "deployment": {"max_session_duration": 60},
        "llm_context": PROMPT
        | {
            "tools": ["voicemail", "schedule_callback"],
            "call_records": {"bucket": "calls"},
            "max_inappropriate_attempts": 1,
            "inappropriate_patterns": ["(?:stupid|dumb) bot"],
            "wrap_up_before_s": 600,
            "webhooks": {
                "endpoints": [{"url": "https://h.example/", "events": ["voicemail.left", "callback.requested"]}]
            },
        },
    },
    "the smallest call records and webhooks, on loopback http": {
        "llm_context": PROMPT
        | {
            "call_records": {"bucket": "calls", "endpoint_url": "http://127.0.0.1:9000"},
            "webhooks": {"endpoints": [{"url": "http://localhost:8080/hooks"}, {"url": "http://[::1]/h"}]},
        }
    },
}


class Invalid(NamedTuple):
    document: Any
    errors: list[str]
    in_json_schema: bool = True  # False: a rule JSON Schema cannot express (the schema's description says so)


def context(**changes: Any) -> dict[str, Any]:
    return {"llm_context": PROMPT | changes}


INVALID: dict[str, Invalid] = {
    # wrong JSON types: each of these once looped the daemon forever
    "secrets a list": Invalid(context() | {"secrets": ["A"]}, ["secrets: must be an object, not an array"]),
    "secrets a string": Invalid(context() | {"secrets": "A=1"}, ["secrets: must be an object, not a string"]),
    "deployment null": Invalid(context() | {"deployment": None}, ["deployment: must be an object, not null"]),
    "deployment a list": Invalid(context() | {"deployment": []}, ["deployment: must be an object, not an array"]),
    "llm_context a string": Invalid({"llm_context": "be nice"}, ["llm_context: must be an object, not a string"]),
    "llm_context null": Invalid({"llm_context": None}, ["llm_context: must be an object, not null"]),
    "the document a list": Invalid([PROMPT], ["configuration: must be an object, not an array"]),
    "min_agents a string": Invalid(
        context() | {"deployment": {"min_agents": "1"}}, ["deployment.min_agents: must be an integer, not a string"]
    ),
    "min_agents a boolean": Invalid(
        context() | {"deployment": {"min_agents": True}}, ["deployment.min_agents: must be an integer, not a boolean"]
    ),
    "tools a string": Invalid(context(tools="end_call"), ["llm_context.tools: must be an array, not a string"]),
    "a secret value a number": Invalid(
        context() | {"secrets": {"PIN": 1234}}, ["secrets.PIN: must be a string, not a number"]
    ),
    # what the bot would refuse
    "llm_context {}": Invalid({"llm_context": {}}, ["llm_context.system_prompt: required"]),
    "no llm_context": Invalid({"deployment": {}}, ["llm_context: required"]),
    "a blank prompt": Invalid(context(system_prompt=" \n "), ["llm_context.system_prompt: must not be blank"]),
    "a 10 MB prompt": Invalid(
        context(system_prompt="x" * 10 * 2**20),
        ["llm_context.system_prompt: must be at most 50000 characters, not 10485760"],
    ),
    "an unknown tool": Invalid(
        context(tools=["end_call", "voicemial"]), [f"llm_context.tools[1]: unknown tool 'voicemial' {TOOLS}"]
    ),
    "a voice Nova Sonic does not have": Invalid(
        context(voice_id="robot"), [f"llm_context.voice_id: unknown voice 'robot' {VOICES}"]
    ),
    "a first-generation voice on Nova 2": Invalid(
        context(voice_id="greta"), ["llm_context.voice_id: voice 'greta' is not available on amazon.nova-2-sonic-v1:0"]
    ),
    "a Nova 2 voice on the first generation": Invalid(
        context(model="amazon.nova-sonic-v1:0", voice_id="kiara"),
        ["llm_context.voice_id: voice 'kiara' is not available on amazon.nova-sonic-v1:0"],
    ),
    "max_agents below min_agents": Invalid(
        context() | {"deployment": {"min_agents": 3, "max_agents": 2}},
        ["deployment.max_agents: must be at least min_agents (3)"],
    ),
    "a transfer number that is neither E.164 nor sip:": Invalid(
        context(transfer_number="555-1234"),
        ["llm_context.transfer_number: must be an E.164 number (+15551234567) or a sip: URI"],
    ),
    "an unknown override": Invalid(
        context(allowed_overrides=["caller_name", "system_prompt"]),
        ["llm_context.allowed_overrides[1]: unknown override 'system_prompt' (known: caller_name, language, greeting)"],
    ),
    "an image without a tag": Invalid(
        context() | {"deployment": {"image": "acme/agent"}},
        ["deployment.image: must name a tag or a digest (image:1.0, image@sha256:…)"],
    ),
    "a session cap out of range": Invalid(
        context() | {"deployment": {"max_session_duration": 30}},
        ["deployment.max_session_duration: must be at least 60"],
    ),
    "an unknown audio filter": Invalid(
        context() | {"deployment": {"krisp_viva_audio_filter": "on"}},
        ["deployment.krisp_viva_audio_filter: must be 'tel' or 'pro'"],
    ),
    "an incomplete knowledge snippet": Invalid(
        context(knowledge_base=[{"title": "Hours", "content": "9 to 5"}, {"title": ""}]),
        [
            "llm_context.knowledge_base[1].title: must not be empty",
            "llm_context.knowledge_base[1].content: required",
        ],
    ),
    "call records without a bucket, and a bucket S3 would refuse": Invalid(
        context(call_records={"recording": True}, webhooks={"endpoints": []}),
        ["llm_context.call_records.bucket: required", "llm_context.webhooks.endpoints: must have at least 1 item"],
    ),
    "a bucket name S3 refuses, a prefix with a slash at its end": Invalid(
        context(call_records={"bucket": "Acme_Calls", "prefix": "voice/", "region": "EU"}),
        [
            f"llm_context.call_records.bucket: {BUCKET_RULE}",
            f"llm_context.call_records.prefix: {PREFIX_RULE}",
            "llm_context.call_records.region: must be a region name such as us-east-1",
        ],
    ),
    "records as strings, not booleans": Invalid(
        context(call_records={"bucket": "calls", "recording": "yes", "keep_caller_number": 1}),
        [
            "llm_context.call_records.recording: must be a boolean, not a string",
            "llm_context.call_records.keep_caller_number: must be a boolean, not a number",
        ],
    ),
    "webhook URLs that are not https, or carry credentials": Invalid(
        context(
            webhooks={
                "endpoints": [
                    {"url": "http://hooks.acme.example/calls"},
                    {"url": "https://user:pw@hooks.acme.example/calls"},
                    {"url": "http://localhost.evil.example/"},
                    {"url": "ftp://127.0.0.1/"},
                ]
            },
            call_records={"bucket": "calls", "endpoint_url": "http://10.0.0.5:9000"},
        ),
        [
            f"llm_context.call_records.endpoint_url: {URL_RULE}",
            f"llm_context.webhooks.endpoints[0].url: {URL_RULE}",
            f"llm_context.webhooks.endpoints[1].url: {URL_RULE}",
            f"llm_context.webhooks.endpoints[2].url: {URL_RULE}",
            f"llm_context.webhooks.endpoints[3].url: {URL_RULE}",
        ],
    ),
    "an unknown webhook event, none at all, the old free-form webhooks": Invalid(
        {
            "llm_context": PROMPT
            | {
                "webhooks": {
                    "endpoints": [
                        {"url": "https://h.example/", "events": ["call.ended", "call.answered"]},
                        {"url": "https://h.example/", "events": []},
                    ],
                    "on_end": "https://example.com/hook",
                }
            }
        },
        [
            "llm_context.webhooks.endpoints[0].events[1]: unknown webhook event 'call.answered' "
            "(known: call.started, call.ended, transcript.ready, voicemail.left, callback.requested)",
            "llm_context.webhooks.endpoints[1].events: must have at least 1 item",
            "llm_context.webhooks.on_end: unknown field",
        ],
    ),
    # the guardrails, voicemail and callbacks
    "limits out of range": Invalid(
        context(
            max_conversation_length=0,
            wrap_up_before_s=5,
            max_inappropriate_attempts=21,
            voicemail={"max_length_s": 5, "silence_s": 0},
        ),
        [
            "llm_context.max_conversation_length: must be at least 1",
            "llm_context.wrap_up_before_s: must be at least 10",
            "llm_context.max_inappropriate_attempts: must be at most 20",
            "llm_context.voicemail.max_length_s: must be at least 10",
            "llm_context.voicemail.silence_s: must be at least 1",
        ],
    ),
    "patterns without the attempts they count against": Invalid(
        context(inappropriate_patterns=["idiot"]),
        ["llm_context.inappropriate_patterns: needs max_inappropriate_attempts (what the matches count against)"],
    ),
    "a pattern that is no regular expression": Invalid(
        context(max_inappropriate_attempts=2, inappropriate_patterns=["fine", "(unclosed"]),
        [
            "llm_context.inappropriate_patterns[1]: must be a regular expression: "
            "missing ), unterminated subpattern at position 0"
        ],
        in_json_schema=False,
    ),
    "the voicemail tool with nowhere to keep messages": Invalid(
        context(tools=["end_call", "voicemail"]),
        ["llm_context: the voicemail tool needs call_records (where messages are kept)"],
    ),
    "business hours on an unknown day, at no time of day, and a summary number that is not E.164": Invalid(
        context(
            business_hours={
                "timezone": "Europe/Paris",
                "hours": [{"days": ["mon", "funday"], "open": "9am", "close": "25:00"}],
            },
            callback_summary_number="555-0199",
        ),
        [
            "llm_context.business_hours.hours[0].days[1]: must be 'mon', 'tue', 'wed', 'thu', 'fri', 'sat' or 'sun'",
            "llm_context.business_hours.hours[0].open: must be a time of day, HH:MM (00:00 to 24:00)",
            "llm_context.business_hours.hours[0].close: must be a time of day, HH:MM (00:00 to 24:00)",
            "llm_context.callback_summary_number: must be an E.164 number (+15551234567)",
        ],
    ),
    "business hours in an unknown time zone, closing before they open": Invalid(
        context(
            business_hours={
                "timezone": "Mars/Olympus_Mons",
                "hours": [{"days": ["mon"], "open": "17:00", "close": "09:00"}],
            }
        ),
        [
            "llm_context.business_hours.timezone: unknown time zone 'Mars/Olympus_Mons' (an IANA name such as "
            "Europe/Paris)",
            "llm_context.business_hours.hours[0]: close must be after open",
        ],
        in_json_schema=False,
    ),
    # unknown keys: typos and fields that do not exist are errors, never dropped
    "a misspelled prompt": Invalid(
        {"llm_context": {"sytem_prompt": "x"}},
        ["llm_context.system_prompt: required", "llm_context.sytem_prompt: unknown field"],
    ),
    "fields that do not exist": Invalid(
        {"llm_context": PROMPT | {"enable_recording": True, "max_call_length": 600}, "secret": {}},
        [
            "llm_context.enable_recording: unknown field",
            "llm_context.max_call_length: unknown field",
            "secret: unknown field",
        ],
    ),
    "secret keys that are not environment variable names": Invalid(
        context() | {"secrets": {"api_key": "x", "1ST": "y", "AGENT_CONFIG": "{}"}},
        [
            f"secrets.api_key: {KEY_RULE}",
            f'secrets["1ST"]: {KEY_RULE}',
            "secrets.AGENT_CONFIG: reserved key: config-sync writes AGENT_CONFIG itself",
        ],
    ),
    # every error of a document, not only the first
    "many errors at once": Invalid(
        {
            "deployment": {"image": "acme/agent", "min_agents": 5, "max_agents": 60, "regoin": "us-west"},
            "llm_context": {"voice_id": "robot", "tools": ["voicemial"], "guardrails": [""]},
            "secrets": {"TOKEN": None},
        },
        [
            "deployment.image: must name a tag or a digest (image:1.0, image@sha256:…)",
            "deployment.max_agents: must be at most 50",
            "deployment.regoin: unknown field",
            "llm_context.system_prompt: required",
            f"llm_context.voice_id: unknown voice 'robot' {VOICES}",
            f"llm_context.tools[0]: unknown tool 'voicemial' {TOOLS}",
            "llm_context.guardrails[0]: must not be empty",
            "secrets.TOKEN: must be a string, not null",
        ],
    ),
}

# the cases issue 15 names, run through the real daemon (tests/processing/test_invalid_configuration_e2e.py) and
# the real `config-sync schema` / `validate` (tests/cli/test_schema.py)
DAEMON_CASES = [
    "secrets a list",
    "secrets a string",
    "deployment null",
    "deployment a list",
    "llm_context a string",
    "llm_context {}",
    "an unknown tool",
    "a voice Nova Sonic does not have",
    "max_agents below min_agents",
    "a 10 MB prompt",
]
