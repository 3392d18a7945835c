"""`secrets`: the agent's own secret values, written into its Pipecat Cloud secret set as environment variables."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator, Field
from pydantic.json_schema import WithJsonSchema
from pydantic_core import PydanticCustomError

from agent_schema.fields import Matches

# what the bot's environment can hold without surprises: upper case (names are case-sensitive and the bot reads
# upper-case ones), not starting with a digit, and within Pipecat Cloud's 64-character limit for keys
KEY_PATTERN = r"^[A-Z_][A-Z0-9_]{0,63}$"
KEY_RULE = "must be an environment variable name: A-Z, 0-9 and _, not starting with a digit, at most 64 characters"
RESERVED = ("AGENT_CONFIG",)  # config-sync writes it
MAX_VALUE_CHARS = 65_536


def _not_reserved(key: str) -> str:
    if key in RESERVED:
        raise PydanticCustomError("reserved_key", "reserved key: config-sync writes AGENT_CONFIG itself")
    return key


SecretKey = Annotated[str, Field(max_length=64), Matches(KEY_PATTERN, KEY_RULE), AfterValidator(_not_reserved)]
SecretValue = Annotated[str, Field(max_length=MAX_VALUE_CHARS)]
Secrets = Annotated[
    dict[SecretKey, SecretValue],
    WithJsonSchema(
        {
            "type": "object",
            "propertyNames": {"pattern": KEY_PATTERN, "not": {"enum": list(RESERVED)}},
            "additionalProperties": {"type": "string", "maxLength": MAX_VALUE_CHARS},
        }
    ),
]
