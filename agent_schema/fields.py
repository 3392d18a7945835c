"""The building blocks every part of the configuration uses: the strict base model, and string rules whose
error says the rule in words while the JSON Schema carries the same rule (`pattern`, `enum`).

Rules are `Annotated` metadata: `Annotated[str, Field(max_length=63), Matches(PATTERN, "must be …")]`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, GetCoreSchemaHandler, GetJsonSchemaHandler
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import CoreSchema, PydanticCustomError, core_schema


class StrictModel(BaseModel):
    """Unknown keys are errors, JSON types are never coerced (`"4"` is not 4, `true` is not 1), input values
    never appear in `str(ValidationError)` (they may be secrets), and a parsed configuration cannot change."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, hide_input_in_errors=True)


@dataclass(frozen=True)
class Matches:
    """The string must match `pattern` (anchor it: JSON Schema searches, as `re.search` does); else `rule`."""

    pattern: str
    rule: str

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        compiled = re.compile(self.pattern)

        def check(value: str) -> str:
            if not compiled.search(value):
                raise PydanticCustomError("rule", "{rule}", {"rule": self.rule})
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "pattern": self.pattern}


@dataclass(frozen=True)
class OneOf:
    """The string must be one of `values`; the error reads `unknown <noun> '<value>' (known: …)`."""

    noun: str
    values: tuple[str, ...]

    def __get_pydantic_core_schema__(self, source: Any, handler: GetCoreSchemaHandler) -> CoreSchema:
        def check(value: str) -> str:
            if value not in self.values:
                raise PydanticCustomError(
                    "unknown_choice",
                    "unknown {noun} '{value}' (known: {known})",
                    {"noun": self.noun, "value": value, "known": ", ".join(self.values)},
                )
            return value

        return core_schema.no_info_after_validator_function(check, handler(source))

    def __get_pydantic_json_schema__(self, schema: CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {**handler(schema), "enum": list(self.values)}


# https, or plain http to a loopback address only (a test receiver, a local S3 stand-in, a sidecar); no
# `user:password@`, since credentials belong in the secret set, never in the configuration
URL_PATTERN = (
    r"^(?:https://[^\s/?#@:]+(?::[0-9]{1,5})?|http://(?:localhost|127(?:\.[0-9]{1,3}){3}|\[::1\])(?::[0-9]{1,5})?)"
    r"(?:[/?#]\S*)?$"
)
URL_RULE = "must be an https:// URL (http:// only to localhost, 127.x.x.x or [::1]), without user:password@"
Url = Annotated[str, Field(max_length=2048), Matches(URL_PATTERN, URL_RULE)]
