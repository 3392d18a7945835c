"""The guardrails hold whatever the model does: each limit reached in a short configuration gets the wrap-up
spoken and the call ended with its reason before the platform's cut; inappropriate callers are warned, recorded,
and cut off after `max_inappropriate_attempts`. A whole Twilio call each (only Nova Sonic's stream is faked)."""

from __future__ import annotations

import contextlib
import io
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from agent_bot.guardrails import LimitTiming
from tests.agent_bot.call_support import Phone, deps_for, phone_call, told, with_cap
from tests.agent_bot.fake_nova import FakeNovaSonic, FakeStream
from tests.agent_bot.records_support import WHSEC, Receiver, events, json_log, said, until_logged
from tests.agent_bot.support import AGENT_CONTEXT, TwilioStandIn, agent_env, bot_app, serve, until

# one configured second lasts 0.15 s: a 60 s cap is cut by the platform 9 s in; the wrap-up starts 30 (configured)
# seconds before it, at 4.5 s, and the call ends 15 before it, at 6.75 s, whatever is being said
CLOCK = LimitTiming(second_s=0.15, end_margin_s=15, answer_wait_s=3)
CUT_S, WRAP_UP_S, DEADLINE_S = 60 * 0.15, 30 * 0.15, 45 * 0.15


def guardrail_events(log: Any) -> list[tuple[str, str]]:
    return [(e["kind"], e["action"]) for e in events(log, "call.guardrail")]


@dataclass
class CappedCall:
    twilio: TwilioStandIn
    log: io.StringIO
    phone: Phone
    stream: FakeStream
    began: float

    def elapsed(self) -> float:
        return time.monotonic() - self.began


@contextlib.asynccontextmanager
async def capped_call(nova: FakeNovaSonic) -> AsyncIterator[CappedCall]:
    """A call to an agent deployed with a 60 s cap (wrap-up 30 s before it), on the fast clock; yields once the
    model's session is open, and returns once the call has ended."""
    twilio = TwilioStandIn()
    async with serve(twilio.app()) as rest:
        env = with_cap(agent_env(AGENT_CONTEXT | {"wrap_up_before_s": 30}, TWILIO_API_BASE_URL=f"http://{rest}"), 60)
        with json_log() as log:
            async with serve(bot_app(deps_for(env, nova, CLOCK))) as bot, phone_call(f"ws://{bot}/ws") as phone:
                began = time.monotonic()
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                yield CappedCall(twilio, log, phone, stream, began)
            await until_logged(log, "call.ended")


async def test_the_session_cap_is_wrapped_up_and_the_call_ends_before_the_platforms_cut() -> None:
    nova = FakeNovaSonic()
    async with capped_call(nova) as call:
        await until(lambda: told(call.stream, "reached its time limit"), timeout=15)
        wrap_up_at = call.elapsed()
        before = call.phone.media_bytes()
        call.stream.says("I'm afraid our time is up. Thank you for calling, goodbye!", audio_ms=600)
        await call.phone.ended_by_bot()
        ended_at = call.elapsed()
        spoken = call.phone.media_bytes() - before
    assert WRAP_UP_S - 0.3 < wrap_up_at < DEADLINE_S, wrap_up_at
    assert ended_at < CUT_S, ended_at  # a clean end: the platform never had to cut the call
    assert spoken > 2000  # the wrap-up was played to the caller, not cut
    assert events(call.log, "call.ended")[0]["end_reason"] == "session_limit"
    assert guardrail_events(call.log) == [("session_limit", "wrap_up")]  # ended by the goodbye, not the deadline
    assert [u.get("Status") for u in call.twilio.updates] == ["completed"]  # and hung up


async def test_without_a_goodbye_the_call_still_ends_at_the_deadline_before_the_cut() -> None:
    nova = FakeNovaSonic()
    async with capped_call(nova) as call:
        await call.phone.ended_by_bot()  # the model says nothing at all
        ended_at = call.elapsed()
    assert DEADLINE_S - 0.3 < ended_at < CUT_S, ended_at
    assert events(call.log, "call.ended")[0]["end_reason"] == "session_limit"
    assert guardrail_events(call.log) == [("session_limit", "wrap_up"), ("session_limit", "ended_at_deadline")]
    assert [u.get("Status") for u in call.twilio.updates] == ["completed"]


async def test_the_conversation_length_is_wrapped_up_after_the_last_answer() -> None:
    nova, twilio = FakeNovaSonic(), TwilioStandIn()
    async with serve(twilio.app()) as rest:
        env = agent_env(AGENT_CONTEXT | {"max_conversation_length": 2}, TWILIO_API_BASE_URL=f"http://{rest}")
        with json_log() as log:
            async with serve(bot_app(deps_for(env, nova))) as bot, phone_call(f"ws://{bot}/ws") as phone:
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                # Nova reports a caller's turn once it starts answering it (or calls a tool)
                stream.user_says("Do you fly to Lisbon?")
                stream.says("We do, every day.")
                await until(lambda: said("assistant") == ["We do, every day."])
                assert not told(stream, "length limit")  # one turn left: no wrap-up yet
                stream.user_says("And to Porto?")
                stream.says("Porto too, twice a week.")
                await until(lambda: told(stream, "length limit"))  # once the answer was given
                assert said("assistant") == ["We do, every day.", "Porto too, twice a week."]
                stream.says("That is all I can do on this call. Thank you, goodbye!", audio_ms=600)
                await phone.ended_by_bot()
            ended = await until_logged(log, "call.ended")
    assert ended["end_reason"] == "conversation_limit"
    assert [(e["kind"], e["action"], e["turns"]) for e in events(log, "call.guardrail")] == [
        ("conversation_limit", "wrap_up", 2)
    ]
    assert [u.get("Status") for u in twilio.updates] == ["completed"]


def tool_result(stream: Any, index: int) -> dict[str, Any]:
    return dict(json.loads(stream.events("toolResult")[index]["content"]))


async def test_two_warnings_then_the_end_for_an_inappropriate_caller() -> None:
    nova, twilio, receiver = FakeNovaSonic(), TwilioStandIn(), Receiver()
    context = AGENT_CONTEXT | {"max_inappropriate_attempts": 2, "inappropriate_patterns": [r"\bidiot\b"]}
    async with serve(twilio.app()) as rest, serve(receiver.app()) as hooks:
        context |= {"webhooks": {"endpoints": [{"url": f"http://{hooks}/hooks"}]}}
        env = agent_env(context, TWILIO_API_BASE_URL=f"http://{rest}", WEBHOOK_SIGNING_SECRET=WHSEC)
        with json_log() as log:
            async with serve(bot_app(deps_for(env, nova))) as bot, phone_call(f"ws://{bot}/ws") as phone:
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                assert "flag_inappropriate" in stream.tool_names()  # the guardrail's own tool
                # 1: the caller's words match a pattern: the agent is told to warn them as it answers
                stream.user_says("You IDIOT, answer me.")
                stream.says("I am here to help.")
                await until(lambda: told(stream, "(warning 1 of 2)"))
                stream.says("Please keep this polite.")
                # 2: nothing matches, but the agent finds it inappropriate, as its instructions say
                stream.user_says("Useless machine, you are a disgrace.")
                stream.calls_tool("flag_inappropriate", {"reason": "insults"})
                await stream.wait_for("toolResult")
                assert tool_result(stream, 0)["status"] == "warned" and "(warning 2 of 2)" in str(
                    tool_result(stream, 0)
                )
                stream.says("This is my last warning.")
                # 3: one more, and the call ends once the agent has answered it
                stream.user_says("Idiot!")
                stream.says("I cannot go on like this.")
                await until(lambda: told(stream, "ending the call because of it"))
                stream.says("I am ending this call now. Goodbye.", audio_ms=500)
                await phone.ended_by_bot()
            await until_logged(log, "call.reported")
    assert (events(log, "call.ended")[0]["end_reason"]) == "inappropriate"
    assert [(e["source"], e["attempt"], e["action"]) for e in events(log, "call.guardrail")] == [
        ("pattern", 1, "warned"),
        ("agent", 2, "warned"),
        ("pattern", 3, "ending"),
    ]
    # each attempt is in the transcript, after the caller's words it was about
    transcript, about = receiver.hooks[2].json["data"]["entries"], []
    for entry in transcript:
        if entry.get("role") == "user":
            words = entry["text"]
        elif entry.get("name") == "guardrail":
            about.append((entry["attempt"], entry["action"], words))
    assert about == [
        (1, "warned", "You IDIOT, answer me."),
        (2, "warned", "Useless machine, you are a disgrace."),
        (3, "ending", "Idiot!"),
    ]
    assert [u.get("Status") for u in twilio.updates] == ["completed"]
