"""Transfers to a SIP address, end to end through the Twilio REST stand-in: the `<Dial><Sip>` it receives, and
what Twilio then does with the rest of the TwiML when nobody answers (the caller's stream comes back to the agent,
which takes a message), when the person answered and hung up first (the call ends), and a transfer that does not
go through (a message in the same call)."""

from __future__ import annotations

import asyncio
import json
import time
import xml.etree.ElementTree as ET
from typing import Any

from agent_bot import stream_token
from agent_bot.session import SESSIONS
from agent_bot.transfer import comeback
from tests.agent_bot.call_support import deps_for, phone_call, told, transfer_twiml
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.records_support import (
    CALLER,
    RECORDS_ENV,
    Receiver,
    S3Server,
    events,
    json_log,
    until_logged,
)
from tests.agent_bot.support import CALL_SID, TwilioStandIn, agent_env, bot_app, serve, until
from tests.agent_bot.test_voicemail import MESSAGE, leave_a_message, voicemail_context

DESK = "sip:desk@pbx.example.com"
PARAMETERS = {"from_number": CALLER, "to_number": "+15555550123"}
CALLS = f"voice/test/agents/agent-123/calls/{CALL_SID}"


def sip_context(s3_url: str, bucket: str, hooks: str) -> dict[str, Any]:
    return voicemail_context(s3_url, bucket, hooks) | {"transfer_number": DESK}


async def test_an_unanswered_sip_transfer_comes_back_to_the_agent_for_a_message(s3: S3Server, bucket: str) -> None:
    nova, twilio, receiver = FakeNovaSonic(), TwilioStandIn(legs={CALL_SID: ["no-answer"]}), Receiver()
    async with serve(twilio.app()) as rest, serve(receiver.app()) as hooks:
        env = agent_env(sip_context(s3.url, bucket, hooks), TWILIO_API_BASE_URL=f"http://{rest}", **RECORDS_ENV)
        with json_log() as log:
            async with serve(bot_app(deps_for(env, nova), "session-{n}")) as bot:
                env["TWILIO_STREAM_URL"] = f"ws://{bot}/ws"  # where Twilio reaches this bot
                async with phone_call(f"ws://{bot}/ws", PARAMETERS) as phone:
                    stream = await nova.stream()
                    await stream.wait_for("promptStart")
                    stream.user_says("Can I talk to someone at the desk?")
                    stream.calls_tool("transfer_call", {"reason": "wants a person"})
                    await stream.wait_for("toolResult")
                    await twilio.transferred.wait()
                    # Twilio leaves the agent's stream for the <Dial>
                    await phone.leave()
                dial, back, url = transfer_twiml(twilio.updates[0]["Twiml"])
                assert [(child.tag, child.text) for child in dial] == [("Sip", DESK)]
                assert (url, back) == (env["TWILIO_STREAM_URL"], PARAMETERS | {"transfer_return": "1"})
                assert url is not None
                # nobody answers: Twilio runs the <Connect><Stream> after the <Dial>, with the same call
                async with phone_call(url, back) as phone:
                    stream = await nova.stream(1)
                    await until(lambda: told(stream, "Nobody answered the transfer"))
                    stream.says("Sorry, nobody could take your call. Please leave a message.", audio_ms=500)
                    await leave_a_message(stream, phone, "session-2")
            await until_logged(log, "call.reported")
            await until(lambda: len(events(log, "call.reported")) == 2)
    assert [u.get("Status") for u in twilio.updates] == [None, "completed"]  # the transfer; the hang-up after
    ended = {e["session_id"]: e["end_reason"] for e in events(log, "call.ended")}
    assert ended == {"session-1": "transferred", "session-2": "voicemail"}
    # both parts of the call are kept, neither over the other, and the message beside them
    keys = s3.keys(bucket)
    assert {f"{CALLS}/metadata.json", f"{CALLS}/after_transfer/metadata.json"} <= set(keys)
    first = json.loads(s3.read(bucket, f"{CALLS}/metadata.json"))
    back_again = json.loads(s3.read(bucket, f"{CALLS}/after_transfer/metadata.json"))
    assert (first["end_reason"], first["transfer_target"], "leg" in first) == ("transferred", DESK, False)
    assert (back_again["leg"], back_again["end_reason"]) == ("after_transfer", "voicemail")
    transcript = json.loads(s3.read(bucket, f"{CALLS}/after_transfer/transcript.json"))
    returned = [e for e in transcript["entries"] if e.get("name") == "transfer"]
    assert [(e["status"], e["outcome"]) for e in returned] == [("returned", "no-answer")]
    left = next(h.json["data"] for h in receiver.hooks if h.json["type"] == "voicemail.left")
    assert (left["trigger"], left["text"], left["leg"]) == ("transfer_unanswered", MESSAGE, "after_transfer")


async def test_a_caller_back_from_an_answered_transfer_is_hung_up() -> None:
    nova, twilio = FakeNovaSonic(), TwilioStandIn(legs={CALL_SID: ["completed"]})
    async with serve(twilio.app()) as rest:
        context = voicemail_context("http://127.0.0.1:9", "calls", "127.0.0.1:9") | {"transfer_number": DESK}
        env = agent_env(context, TWILIO_API_BASE_URL=f"http://{rest}")
        with json_log() as log:
            parameters = PARAMETERS | {"transfer_return": "1"}
            async with serve(bot_app(deps_for(env, nova))) as bot, phone_call(f"ws://{bot}/ws", parameters) as phone:
                await phone.ended_by_bot()  # the person took the call and hung up first: nothing to add
            ended = await until_logged(log, "call.ended")
    assert (ended["leg"], ended["end_reason"]) == ("after_transfer", "transferred")
    assert [u.get("Status") for u in twilio.updates] == ["completed"]
    assert not any(told(s, "Nobody answered") for s in nova.streams)


async def test_a_transfer_that_does_not_go_through_takes_a_message_in_the_same_call(s3: S3Server, bucket: str) -> None:
    nova, twilio, receiver = FakeNovaSonic(), TwilioStandIn(refuse_updates=1), Receiver()
    async with serve(twilio.app()) as rest, serve(receiver.app()) as hooks:
        env = agent_env(sip_context(s3.url, bucket, hooks), TWILIO_API_BASE_URL=f"http://{rest}", **RECORDS_ENV)
        with json_log() as log:
            async with serve(bot_app(deps_for(env, nova))) as bot, phone_call(f"ws://{bot}/ws", PARAMETERS) as phone:
                stream = await nova.stream()
                await stream.wait_for("promptStart")
                stream.calls_tool("transfer_call", {"reason": "wants a person"})
                result = json.loads((await stream.wait_for("toolResult"))[0]["content"])
                assert result["status"] == "failed" and "leave their message now" in result["instruction"]
                stream.says("The desk cannot be reached. Please leave a message.", audio_ms=500)
                await until(lambda: any(s.voicemail.tap.file for s in sessions()))
                phone.speaking = True
                stream.user_says(MESSAGE)
                await until(lambda: any(s.voicemail.message and s.voicemail.message.words for s in sessions()))
                await asyncio.sleep(0.5)
                await phone.leave()  # the caller hangs up while speaking
            await until_logged(log, "call.reported")
    assert twilio.updates == []  # the refused transfer; no hang-up of a call the caller left
    metadata = json.loads(s3.read(bucket, f"voice/test/agents/agent-123/voicemails/{CALL_SID}/metadata.json"))
    assert (metadata["trigger"], metadata["end"]) == ("transfer_failed", "caller_hung_up")
    assert metadata["duration_s"] > 0.4  # the message up to the moment the line closed (0.5 s and more)
    transcript = json.loads(s3.read(bucket, f"voice/test/agents/agent-123/voicemails/{CALL_SID}/transcript.json"))
    assert transcript["text"] == MESSAGE
    assert events(log, "call.ended")[0]["end_reason"] == "voicemail"


def sessions() -> list[Any]:
    return list(SESSIONS.values())


def test_the_way_back_is_built_from_what_the_bot_knows() -> None:
    """Through Pipecat Cloud (the stream carries the service host): the region's URL; `TWILIO_STREAM_URL` wins;
    nothing known: no way back (a plain transfer). A local server's stream gets a fresh ticket for the same call."""
    cloud = {"_pipecatCloudServiceHost": "desk.acme", "from_number": CALLER}
    back = ET.fromstring(comeback(cloud, {}, "eu-central", CALL_SID))
    assert back.tag == "Connect" and back[0].attrib["url"] == "wss://eu-central.api.pipecat.daily.co/ws/twilio"
    assert {p.attrib["name"]: p.attrib["value"] for p in back[0]} == cloud | {"transfer_return": "1"}
    assert ET.fromstring(comeback(cloud, {}, None, CALL_SID))[0].attrib["url"] == "wss://api.pipecat.daily.co/ws/twilio"
    assert comeback({"from_number": CALLER}, {}, None, CALL_SID) == ""
    env = {"TWILIO_STREAM_URL": "wss://bot.example/media-stream", "TWILIO_AUTH_TOKEN": "twilio-token"}
    local = ET.fromstring(comeback({stream_token.PARAMETER: "old.ticket"}, env, None, CALL_SID))[0]
    assert local.attrib["url"] == "wss://bot.example/media-stream"
    ticket = {p.attrib["name"]: p.attrib["value"] for p in local}[stream_token.PARAMETER]
    stream_token.verify(stream_token.key_from("twilio-token"), ticket, CALL_SID, time.time() + 1800)  # still valid
