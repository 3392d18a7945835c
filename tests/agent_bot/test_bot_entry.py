"""The entry point's refusals (one clear log line, the call closed, no model session), a configuration from a newer
config-sync, and the Daily transport."""

from __future__ import annotations

import json
import uuid

import httpx
import pytest
import websockets
from pipecat.runner.types import DailyRunnerArguments
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams
from pipecat.transports.daily.transport import DailyTransport

from agent_bot.bot import BotDeps, daily_transport
from agent_bot.config import parse_agent_config
from agent_bot.records import CallRecord
from agent_bot.tools import CallState, WeatherClient, build_tools
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.support import (
    AGENT_CONTEXT,
    agent_env,
    bot_app,
    closed_by_bot,
    log_lines,
    serve,
    twilio_start,
    twilio_stop,
)


@pytest.mark.parametrize(
    ("environ", "says"),
    [
        (
            agent_env({"voice_id": "amy", "tools": ["end_call", "voicemial"]}),
            "session refused: invalid agent configuration: AGENT_CONFIG.llm_context.system_prompt: required; "
            "AGENT_CONFIG.llm_context.tools[1]: unknown tool 'voicemial'",
        ),
        (agent_env(AWS_SECRET_ACCESS_KEY=""), "session session-1 refused: AWS_SECRET_ACCESS_KEY not set"),
    ],
)
async def test_a_session_that_cannot_start_says_why_in_one_line(environ: dict[str, str], says: str) -> None:
    nova = FakeNovaSonic()
    with log_lines("ERROR") as lines:
        deps = BotDeps(environ=environ, llm_class=nova.llm_class())
        async with serve(bot_app(deps)) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
            assert await closed_by_bot(ws, twilio_start())  # the platform closes the call's stream
    assert len(lines) == 1 and lines[0].startswith(says)
    assert "Traceback" not in lines[0] and nova.streams == []


async def test_a_configuration_from_a_newer_config_sync_runs_and_says_once_what_it_ignored() -> None:
    field = f"call_recording_{uuid.uuid4().hex[:8]}"  # reported once per process: a name no other test uses
    newer = AGENT_CONTEXT | {field: {"enabled": True}}
    nova = FakeNovaSonic()
    deps = BotDeps(
        environ=agent_env(newer),
        llm_class=nova.llm_class(),
        session_continuation=SessionContinuationParams(enabled=False),
    )
    with log_lines("WARNING") as lines:
        async with serve(bot_app(deps)) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
            for message in twilio_start():
                await ws.send(message)
            first = await nova.stream(0)
            await first.wait_for("promptStart")
            assert first.voice() == "tiffany"  # the session runs with every field the image knows
            async with httpx.AsyncClient(base_url=f"http://{bot}", headers={"x-daily-session-id": "session-1"}) as http:
                update = {"version": 4, "llm_context": newer | {"voice_id": "matthew"}}  # from the same config-sync
                applied = await http.post("/context", json=update)
            assert applied.json() == {"status": "applied", "version": 4, "mode": "reset"}
            await (await nova.stream(1)).wait_for("promptStart")
            await ws.send(twilio_stop())
    ignored = [line for line in lines if "ignored configuration fields" in line]
    assert len(ignored) == 1 and f"AGENT_CONFIG.llm_context.{field}" in ignored[0], lines


async def test_a_websocket_that_is_not_twilio_is_refused() -> None:
    with log_lines("ERROR") as lines:
        async with serve(bot_app(BotDeps(environ=agent_env()))) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
            assert await closed_by_bot(ws, [json.dumps({"hello": "I am a browser"}), json.dumps({"not": "Twilio"})])
    assert [line.split(":")[0] for line in lines] == ["session refused"]


def test_daily_sessions_run_on_daily_without_the_phone_only_transfer() -> None:
    transport = daily_transport(DailyRunnerArguments(room_url="https://acme.daily.co/room-1", token="tok"))
    assert isinstance(transport, DailyTransport)
    context = parse_agent_config({"agent_id": "a", "version": 1, "llm_context": AGENT_CONTEXT}).llm_context
    record = CallRecord(agent_id="a", config_version=1, transport="daily", call_id="s-1", session_id="s-1")
    schemas, handlers = build_tools(context, CallState(record=record), WeatherClient())
    assert sorted(s.name for s in schemas) == sorted(handlers) == ["end_call", "get_current_weather"]


@pytest.mark.parametrize(
    "call_sid",
    ["../../AC00000000000000000000000000000666/Calls/CA00000000000000000000000000000001", "CA1", "CA" + "g" * 32],
)
async def test_a_stream_whose_call_sid_is_not_twilios_is_refused(call_sid: str) -> None:
    """The Pipecat Cloud path (`/ws`): the call sid later goes into Twilio REST URLs, so its form is checked first."""
    nova = FakeNovaSonic()
    with log_lines("ERROR") as lines:
        deps = BotDeps(environ=agent_env(), llm_class=nova.llm_class())
        async with serve(bot_app(deps)) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
            assert await closed_by_bot(ws, twilio_start(call_sid=call_sid))
    assert lines == ["session refused: the stream's callSid is not a Twilio call sid (CA + 32 hex digits)"]
    assert nova.streams == []
