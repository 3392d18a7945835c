"""`schedule_callback`: the time a caller wants to be called back at, and the number. A time must say its time zone
(ISO 8601 with the caller's offset), lie in the future and, when the configuration has business hours, inside them;
otherwise the agent is told why and asks again. An accepted callback is read back to the caller, announced
(`callback.requested`) and, when the configuration names a summary number, texted there."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
from loguru import logger

from agent_bot import logs
from agent_bot.callctl import TwilioCallControl
from agent_bot.records import CallRecord, mask_number
from agent_schema import BusinessHours, LLMContextConfig

MAX_AHEAD = timedelta(days=90)
_E164 = re.compile(r"\+[1-9][0-9]{6,14}")
_SEPARATORS = re.compile(r"[\s().-]")


@dataclass(frozen=True)
class Callback:
    at: datetime  # in the caller's time zone
    number: str

    def read_back(self) -> str:
        """The time and number as the agent reads them back: `Monday 4 May 2026 at 3:00 PM (UTC-04:00), on …`."""
        at = self.at
        clock = f"{at.hour % 12 or 12}:{at:%M} {'AM' if at.hour < 12 else 'PM'}"
        offset = at.strftime("%z")
        zone = f"UTC{offset[:3]}:{offset[3:]}" if offset else "UTC"
        return f"{at:%A} {at.day} {at:%B %Y} at {clock} ({zone}), on {self.number}"

    def data(self) -> dict[str, Any]:
        """What `callback.requested` carries (the number in full: calling it back is the point)."""
        return {"at": self.at.isoformat(), "at_utc": self.at.astimezone(UTC).isoformat(), "number": self.number}

    def summary(self, agent_id: str, call_id: str) -> str:
        """The text sent to the summary number."""
        return f"Callback requested: {self.read_back()}. Agent {agent_id}, call {call_id}."


class Refused(ValueError):
    """Why a callback cannot be scheduled as asked; said to the agent, which asks the caller again."""


def check(
    arguments: Mapping[str, Any], context: LLMContextConfig, caller_number: str | None, now: datetime
) -> Callback:
    """The callback the arguments ask for; `Refused` says what to ask the caller again."""
    number = _number(arguments.get("number"), caller_number)
    raw = arguments.get("time")
    if not isinstance(raw, str) or not raw.strip():
        raise Refused("no time was given: ask the caller when they want to be called back")
    try:
        at = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise Refused("the time is not an ISO 8601 date and time: ask the caller again") from None
    if at.tzinfo is None:
        raise Refused("the time has no time zone: ask the caller which time zone they are in, and give the time with "
                      "its offset (2026-05-04T15:00:00-04:00)")  # fmt: skip
    if at <= now:
        raise Refused(f"that time is in the past (it is now {now.astimezone(at.tzinfo):%Y-%m-%d %H:%M} there): ask "
                      "the caller for a later time")  # fmt: skip
    if at - now > MAX_AHEAD:
        raise Refused(f"that is more than {MAX_AHEAD.days} days ahead: ask the caller for an earlier time")
    hours = context.business_hours
    if hours is not None and not _open_at(hours, at):
        raise Refused(f"that time is outside business hours ({describe(hours)}): ask the caller for a time inside them")
    return Callback(at, number)


def _number(given: object, caller_number: str | None) -> str:
    number = _SEPARATORS.sub("", given) if isinstance(given, str) and given.strip() else caller_number
    if number is None:
        raise Refused("no number was given: ask the caller which number to call back")
    if not _E164.fullmatch(number):
        raise Refused("the number is not a full international number: ask for it with its country code (+1…)")
    return number


def _open_at(hours: BusinessHours, at: datetime) -> bool:
    local = at.astimezone(ZoneInfo(hours.timezone))
    return hours.is_open(local.weekday(), local.hour * 60 + local.minute)


def describe(hours: BusinessHours) -> str:
    """`mon, tue 09:00-17:00; sat 10:00-14:00 (Europe/Paris time)`."""
    blocks = "; ".join(f"{', '.join(b.days)} {b.open}-{b.close}" for b in hours.hours)
    return f"{blocks} ({hours.timezone} time)"


async def text_summary(
    control: TwilioCallControl | None, to: str, sender: str | None, callback: Callback, record: CallRecord
) -> None:
    """Text the callback's summary to `to` (Twilio's Messages API, from `sender`); the outcome is recorded and
    logged, never raised: the callback itself is already scheduled and announced."""
    if control is None or not sender:
        status, detail = "not_sent", "no Twilio credentials" if control is None else "no sender: set TWILIO_SMS_FROM"
        logger.bind(**record.ids()).error(f"callback summary not texted: {detail}")
    else:
        try:
            await control.send_sms(to=to, sender=sender, body=callback.summary(record.agent_id, record.call_id))
            status, detail = "sent", None
        except (httpx.HTTPError, ValueError) as exc:  # refused, unreachable, or an answer that is no JSON
            status, detail = "failed", type(exc).__name__
    record.event("callback_summary", to=mask_number(to), status=status, error=detail)
    logs.call_event(logs.CALL_CALLBACK, f"callback summary {status}", record.ids(), sms=status, error=detail)
