"""How the agent handles a call beyond the conversation: the words that count as inappropriate, the voicemail it
records, and the hours in which a callback may be scheduled. The limits themselves (conversation length,
inappropriate attempts, the wrap-up before the session's cap) are plain fields of `llm_context`."""

from __future__ import annotations

import re
import zoneinfo
from typing import Annotated, Literal

from pydantic import AfterValidator, Field, model_validator
from pydantic_core import PydanticCustomError

from agent_schema.fields import Matches, StrictModel

E164_PATTERN = r"^\+[1-9][0-9]{6,14}$"
E164_RULE = "must be an E.164 number (+15551234567)"
E164 = Annotated[str, Matches(E164_PATTERN, E164_RULE)]
DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")  # in the order of Python's `weekday()`
CLOCK_PATTERN = r"^(?:(?:[01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"
ZONE_PATTERN = r"^[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*$"


def _regex(value: str) -> str:
    try:
        re.compile(value, re.IGNORECASE)
    except re.error as exc:  # the message names the fault and its position, never the whole pattern
        raise PydanticCustomError("regex", "must be a regular expression: {error}", {"error": str(exc)}) from None
    return value


def _zone(value: str) -> str:
    try:
        zoneinfo.ZoneInfo(value)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise PydanticCustomError(
            "time_zone", "unknown time zone '{zone}' (an IANA name such as Europe/Paris)", {"zone": value}
        ) from None
    return value


Regex = Annotated[
    str,
    Field(min_length=1, max_length=200, json_schema_extra={"format": "regex"}),
    AfterValidator(_regex),
]
TimeZone = Annotated[
    str, Field(max_length=64), Matches(ZONE_PATTERN, "must be an IANA time zone such as Europe/Paris"),
    AfterValidator(_zone),
]  # fmt: skip
Clock = Annotated[str, Matches(CLOCK_PATTERN, "must be a time of day, HH:MM (00:00 to 24:00)")]
Day = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def minutes(clock: str) -> int:
    """Minutes since midnight of an `HH:MM` time of day."""
    hours, mins = clock.split(":")
    return int(hours) * 60 + int(mins)


class OpeningHours(StrictModel):
    """Days with the same opening hours."""

    days: list[Day] = Field(min_length=1, max_length=7, description="`mon` to `sun`.")
    open: Clock = Field(description="Opening time, `HH:MM`.")
    close: Clock = Field(description="Closing time, `HH:MM` (`24:00`: midnight), after `open`.")

    @model_validator(mode="after")
    def _closes_after_opening(self) -> OpeningHours:
        if minutes(self.close) <= minutes(self.open):
            raise PydanticCustomError("hours", "close must be after open")
        return self


class BusinessHours(StrictModel):
    """When the agent's people work, in their time zone."""

    timezone: TimeZone = Field(description="IANA time zone of the hours (`America/New_York`).")
    hours: list[OpeningHours] = Field(min_length=1, max_length=14, description="The opening hours, by days.")

    def is_open(self, weekday: int, minute_of_day: int) -> bool:
        """Whether a moment (weekday 0 = Monday, minutes since midnight in `timezone`) falls inside the hours."""
        return any(
            DAYS[weekday] in block.days and minutes(block.open) <= minute_of_day < minutes(block.close)
            for block in self.hours
        )


class VoicemailConfig(StrictModel):
    """How a voicemail is recorded."""

    max_length_s: int = Field(120, ge=10, le=600, description="The longest message, in seconds.")
    silence_s: int = Field(
        4,
        ge=1,
        le=30,
        description="Seconds of silence that end the message once the caller has spoken (twice as long before "
        "they start).",
    )
