"""The agent's tools: weather (Open-Meteo), end the call, transfer to a person, voicemail, schedule a callback, and
`flag_inappropriate` (with `max_inappropriate_attempts`). Which ones come from the configuration; what they do to
the call (end it, take a message, count an attempt) the running session does (`SessionActions`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

import httpx
from loguru import logger
from pipecat.adapters.llm.schemas.function_schema import FunctionSchema
from pipecat.services.llm_service import FunctionCallParams

from agent_bot import callbacks
from agent_bot.callctl import TwilioCallControl
from agent_bot.config import offered_tools
from agent_bot.records import AGENT_ENDED, TRANSFERRED, CallRecord
from agent_bot.voicemail import ANNOUNCE, Trigger
from agent_bot.weather import WEATHER_FALLBACK, WeatherClient
from agent_schema import LLMContextConfig

Handler = Callable[[FunctionCallParams], Awaitable[None]]


class SessionActions(Protocol):
    """What the tools ask of the running session."""

    async def end_after_goodbye(self, reason: str) -> bool: ...

    async def take_voicemail(self, trigger: Trigger) -> bool: ...

    async def flag_inappropriate(self) -> dict[str, Any]: ...

    async def callback_scheduled(self, callback: callbacks.Callback) -> None: ...

    def comeback(self) -> str: ...


@dataclass
class CallState:
    """What the tools know about the call, and what they decided (read by the bot when the pipeline ends); what
    they did goes into the call's record."""

    record: CallRecord
    call_sid: str | None = None
    call_control: TwilioCallControl | None = None  # Twilio's REST API, when the account's credentials are set
    dialled_number: str | None = None  # the number the caller called (a Twilio number: callback texts' sender)
    transferred: bool = False
    session: SessionActions | None = None

    @property
    def channel(self) -> str:
        return self.record.transport


def _schema(name: str, description: str, **properties: str) -> FunctionSchema:
    """A tool with string arguments; the first is required when `name` ends in `!`."""
    required = [p.rstrip("!") for p in properties if p.endswith("!")]
    props = {p.rstrip("!"): {"type": "string", "description": text} for p, text in properties.items()}
    return FunctionSchema(name=name, description=description, properties=props, required=required)


SCHEMAS = {
    s.name: s
    for s in (
        _schema("get_current_weather", "Get the current weather for a city or place.",
                **{"location!": "City or place, e.g. 'Paris'"}),
        _schema("end_call", "End the call after saying goodbye, when the caller is done.", reason="Why the call ends"),
        _schema("transfer_call", "Transfer the caller to a human colleague.", reason="Why the caller needs a person"),
        _schema("voicemail", "Let the caller leave a voice message (they ask to, or nobody can take their call).",
                reason="Why a message is taken"),
        _schema("schedule_callback",
                "Schedule a callback at the time the caller wants. Ask for their time zone if you do not know it.",
                **{"time!": "ISO 8601 date and time with the caller's UTC offset, e.g. 2026-05-04T15:00:00-04:00",
                   "number": "The number to call back, with its country code (+1…); absent: the one they call from"}),
        _schema("flag_inappropriate",
                "Report that the caller's last words were inappropriate as your instructions define it; you are "
                "then told how to answer.", reason="What was inappropriate, in general terms"),
    )
}  # fmt: skip
UNAVAILABLE = {"status": "unavailable", "message": "This cannot be done on this call."}


def build_tools(
    config: LLMContextConfig, call: CallState, weather: WeatherClient
) -> tuple[list[FunctionSchema], dict[str, Handler]]:
    """The schemas to advertise and a handler for each (every advertised tool must have one)."""

    async def get_current_weather(params: FunctionCallParams) -> None:
        location = str(params.arguments.get("location", "")).strip()
        try:
            result = await weather.current(location)
        except Exception as exc:  # timeouts, HTTP errors, unexpected JSON: the caller hears the fallback
            logger.warning(f"weather lookup failed: {type(exc).__name__}")
            result = {"location": location, "error": WEATHER_FALLBACK}
        await params.result_callback(result)

    async def end_call(params: FunctionCallParams) -> None:
        # before the result: Nova says goodbye as soon as it has it
        if call.session is None or not await call.session.end_after_goodbye(AGENT_ENDED):
            await params.result_callback({"status": "already_ending"})
            return
        await params.result_callback({"status": "ending", "instruction": "Say a short goodbye now."})

    async def voicemail(params: FunctionCallParams) -> None:
        if call.session is None or not await call.session.take_voicemail("caller_request"):
            await params.result_callback(UNAVAILABLE)
            return
        await params.result_callback({"status": "recording", "instruction": ANNOUNCE})

    async def flag_inappropriate(params: FunctionCallParams) -> None:
        await params.result_callback(await call.session.flag_inappropriate() if call.session else UNAVAILABLE)

    async def transfer(params: FunctionCallParams) -> None:
        await transfer_call(params, config, call)

    async def callback(params: FunctionCallParams) -> None:
        await schedule_callback(params, config, call)

    handlers: dict[str, Handler] = {
        "get_current_weather": get_current_weather,
        "end_call": end_call,
        "transfer_call": transfer,
        "voicemail": voicemail,
        "schedule_callback": callback,
        "flag_inappropriate": flag_inappropriate,
    }
    # a transfer redirects the Twilio call; a WebRTC session has nothing to redirect, so it is not offered there
    enabled = [t for t in offered_tools(config) if t != "transfer_call" or call.channel == "twilio"]
    return [SCHEMAS[name] for name in enabled], {name: handlers[name] for name in enabled}


async def transfer_call(params: FunctionCallParams, config: LLMContextConfig, call: CallState) -> None:
    """Redirect the Twilio call to the transfer number (`<Dial>`), then back to this agent when voicemail is on
    and nobody answers; a transfer that does not go through takes a message instead, when voicemail is on."""
    target = config.transfer_number
    if call.channel != "twilio" or call.call_control is None or call.call_sid is None or target is None:
        await params.result_callback({"status": "unavailable", "message": "Transfers work on phone calls only."})
        return
    call.transferred = True  # before the request: Twilio may close the media stream before it returns
    call.record.end(TRANSFERRED)
    voicemail_on = call.session is not None and "voicemail" in offered_tools(config)
    comeback = call.session.comeback() if call.session and voicemail_on else ""
    try:
        await call.call_control.transfer(call.call_sid, target, then=comeback)
    except httpx.HTTPError as exc:
        call.transferred = False
        if call.record.end_reason == TRANSFERRED:  # the call goes on
            call.record.end_reason = None
        logger.warning(f"transfer failed: {type(exc).__name__}")
        failed = {"status": "failed", "error": type(exc).__name__}
        call.record.event("transfer", tool_call_id=params.tool_call_id, target=target, **failed)
        if voicemail_on and call.session is not None and await call.session.take_voicemail("transfer_failed"):
            instruction = f"The transfer did not go through: nobody can take the call now. {ANNOUNCE}"
            await params.result_callback({"status": "failed", "instruction": instruction})
            return
        await params.result_callback({"status": "failed", "message": "The transfer did not go through."})
        return
    call.record.transfer_target = target
    call.record.event("transfer", tool_call_id=params.tool_call_id, target=target, status="transferring")
    await params.result_callback({"status": "transferring"})


async def schedule_callback(params: FunctionCallParams, config: LLMContextConfig, call: CallState) -> None:
    """Check the time and number asked for: refused with why (the agent asks again), or scheduled, read back,
    and handed to the session (record, webhook, summary text)."""
    try:
        callback = callbacks.check(params.arguments, config, call.record.caller_number, datetime.now(UTC))
    except callbacks.Refused as exc:
        instruction = "Tell the caller briefly why, and ask again."
        await params.result_callback({"status": "refused", "reason": str(exc), "instruction": instruction})
        return
    instruction = f"Read this back to the caller: {callback.read_back()}."
    await params.result_callback({"status": "scheduled", **callback.data(), "instruction": instruction})
    if call.session is not None:
        await call.session.callback_scheduled(callback)
