"""`schedule_callback`: refused and asked again (in the past, outside business hours, no time zone, no usable
number), or read back, announced with a signed `callback.requested` and texted to the summary number through the
Twilio Messages API stand-in, over a whole call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from standardwebhooks import Webhook

from agent_bot.callbacks import Callback, Refused, check, describe
from agent_schema import LLMContextConfig
from tests.agent_bot.call_support import deps_for, phone_call
from tests.agent_bot.fake_nova import FakeNovaSonic, FakeStream
from tests.agent_bot.records_support import CALLER, WHSEC, Receiver, json_log, until_logged
from tests.agent_bot.support import (
    ACCOUNT_SID,
    AGENT_CONTEXT,
    CALL_SID,
    TwilioStandIn,
    agent_env,
    bot_app,
    serve,
    until,
)

PARIS = ZoneInfo("Europe/Paris")
DIALLED = "+15555550123"  # the agent's Twilio number, which the caller called
SUMMARY_TO = "+15555550199"
HOURS = {"timezone": "Europe/Paris", "hours": [{"days": ["mon", "tue", "wed", "thu", "fri", "sat", "sun"],
                                                "open": "09:00", "close": "17:00"}]}  # fmt: skip
CONTEXT = LLMContextConfig.model_validate({"system_prompt": "x", "business_hours": HOURS})


def tomorrow_in_paris(hour: int) -> datetime:
    day = datetime.now(PARIS) + timedelta(days=1)
    return day.replace(hour=hour, minute=30, second=0, microsecond=0)


def results(stream: FakeStream) -> list[dict[str, Any]]:
    return [json.loads(e["content"]) for e in stream.events("toolResult")]


async def test_a_callback_is_asked_again_until_valid_then_read_back_announced_and_texted() -> None:
    nova, twilio, receiver = FakeNovaSonic(), TwilioStandIn(), Receiver()
    past = (datetime.now(PARIS) - timedelta(hours=1)).isoformat(timespec="minutes")
    evening, morning = tomorrow_in_paris(20).isoformat(), tomorrow_in_paris(10).isoformat()
    async with serve(twilio.app()) as rest, serve(receiver.app()) as hooks:
        context = AGENT_CONTEXT | {
            "tools": ["schedule_callback", "end_call"],
            "business_hours": HOURS,
            "callback_summary_number": SUMMARY_TO,
            "webhooks": {"endpoints": [{"url": f"http://{hooks}/hooks", "events": ["callback.requested"]}]},
        }
        env = agent_env(context, TWILIO_API_BASE_URL=f"http://{rest}", WEBHOOK_SIGNING_SECRET=WHSEC)
        parameters = {"from_number": CALLER, "to_number": DIALLED}
        with json_log() as log:
            async with serve(bot_app(deps_for(env, nova))) as bot, phone_call(f"ws://{bot}/ws", parameters) as phone:
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                stream.user_says("Could someone call me back?")
                stream.calls_tool("schedule_callback", {"time": past, "number": "+1 (555) 123-4567"})
                await stream.wait_for("toolResult", 1)
                stream.calls_tool("schedule_callback", {"time": evening})
                await stream.wait_for("toolResult", 2)
                stream.calls_tool("schedule_callback", {"time": morning})  # the number: the caller's own
                await stream.wait_for("toolResult", 3)
                await until(lambda: twilio.messages and receiver.hooks)
                await phone.leave()
            await until_logged(log, "call.reported")
    in_the_past, after_hours, scheduled = results(stream)
    assert in_the_past["status"] == "refused" and "in the past" in in_the_past["reason"]
    assert after_hours["status"] == "refused" and "outside business hours" in after_hours["reason"]
    assert "09:00-17:00 (Europe/Paris time)" in after_hours["reason"]
    assert "ask again" in in_the_past["instruction"] and "ask again" in after_hours["instruction"]
    read_back = Callback(datetime.fromisoformat(morning), CALLER).read_back()
    assert scheduled == {
        "status": "scheduled",
        "at": morning,
        "at_utc": datetime.fromisoformat(morning).astimezone(UTC).isoformat(),
        "number": CALLER,
        "instruction": f"Read this back to the caller: {read_back}.",
    }
    # announced once, signed, with the time and the number to call
    assert receiver.types() == ["callback.requested"]
    hook = receiver.hooks[0]
    data = Webhook(WHSEC).verify(hook.body, hook.headers)["data"]
    assert (data["at"], data["number"], data["call_id"]) == (morning, CALLER, CALL_SID)
    # texted to the summary number from the number the caller dialled, with the account's credentials
    [text] = twilio.messages
    assert (text["account"], text["To"], text["From"]) == (ACCOUNT_SID, SUMMARY_TO, DIALLED)
    assert read_back in text["Body"] and text["auth"].startswith("Basic ")


NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)  # a Monday


@pytest.mark.parametrize(
    ("arguments", "caller", "why"),
    [
        ({"time": "2026-05-05T10:00:00"}, CALLER, "the time has no time zone"),
        ({"time": "tomorrow at ten"}, CALLER, "not an ISO 8601 date and time"),
        ({}, CALLER, "no time was given"),
        ({"time": "2026-05-04T13:59:00+02:00"}, CALLER, "in the past"),  # 11:59 UTC
        ({"time": "2026-09-01T10:00:00+02:00"}, CALLER, "more than 90 days ahead"),
        ({"time": "2026-05-05T08:59:00+02:00"}, CALLER, "outside business hours"),
        ({"time": "2026-05-05T17:00:00+02:00"}, CALLER, "outside business hours"),  # closed from 17:00
        ({"time": "2026-05-05T10:00:00+02:00"}, None, "no number was given"),
        ({"time": "2026-05-05T10:00:00+02:00", "number": "555-1234"}, CALLER, "not a full international number"),
    ],
)
def test_a_callback_is_refused_with_what_to_ask_again(arguments: dict[str, Any], caller: str | None, why: str) -> None:
    with pytest.raises(Refused, match=why):
        check(arguments, CONTEXT, caller, NOW)


def test_a_valid_callback_is_read_back_in_the_callers_own_time() -> None:
    callback = check({"time": "2026-05-05T16:59:00+02:00", "number": "+44 20 7946 0958"}, CONTEXT, None, NOW)
    assert callback == Callback(datetime.fromisoformat("2026-05-05T16:59:00+02:00"), "+442079460958")
    assert callback.read_back() == "Tuesday 5 May 2026 at 4:59 PM (UTC+02:00), on +442079460958"
    # the caller's own offset is kept; business hours are checked in theirs (New York 10:30 is 16:30 in Paris)
    in_new_york = check({"time": "2026-05-05T10:30:00-04:00"}, CONTEXT, CALLER, NOW)
    assert in_new_york.read_back() == f"Tuesday 5 May 2026 at 10:30 AM (UTC-04:00), on {CALLER}"
    assert describe(CONTEXT.business_hours) == "mon, tue, wed, thu, fri, sat, sun 09:00-17:00 (Europe/Paris time)"  # type: ignore[arg-type]
