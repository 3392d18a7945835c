"""The Pipecat Cloud entry point: `async def bot(runner_args)` for Daily (WebRTC) and Twilio (phone) sessions."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from loguru import logger
from pipecat.pipeline.worker import PipelineParams
from pipecat.runner.types import DailyRunnerArguments, RunnerArguments, WebSocketRunnerArguments
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from agent_bot import context_api, logs
from agent_bot.callctl import NOT_A_CALL_SID, TwilioCallControl, is_call_sid
from agent_bot.config import AgentConfigError, call_overrides, load_agent_config
from agent_bot.llm import AgentNovaSonic, make_llm
from agent_bot.records import CallRecord
from agent_bot.reporting import CallReporter, DeliveryPolicy
from agent_bot.session import AgentSession
from agent_bot.tools import CallState, WeatherClient

context_api.install()  # POST /context on Pipecat Cloud's Session API app, when running in the base image

TWILIO_API = "https://api.twilio.com"


@dataclass(frozen=True)
class Line:
    """The call's transport and what it tells about the call."""

    transport: BaseTransport
    kind: Literal["twilio", "daily"]
    body: Any  # the session body: untrusted
    audio_rate: int  # the transport's sample rate, which the recording keeps
    call_sid: str | None = None
    caller_number: str | None = None
    call_control: TwilioCallControl | None = None


def daily_transport(runner_args: DailyRunnerArguments) -> BaseTransport:
    """A Daily WebRTC session (room URL and token from the platform). Audio rates are the pipeline's, which are
    Nova Sonic's (16 kHz in, 24 kHz out)."""
    from pipecat.transports.daily.transport import DailyParams, DailyTransport

    return DailyTransport(
        runner_args.room_url,
        runner_args.token,
        "Voice agent",
        DailyParams(audio_in_enabled=True, audio_out_enabled=True),
    )


@dataclass
class BotDeps:
    """What the bot takes from its surroundings. Tests point the URLs at loopback servers (through `environ`:
    `TWILIO_API_BASE_URL`, `WEATHER_GEOCODING_URL`, `WEATHER_FORECAST_URL`), replace the Nova Sonic class (the one
    faked seam), shorten the bounds of what happens after a call, and, since joining a Daily room needs Daily's
    servers, may run a Daily session over another transport."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    llm_class: type[AgentNovaSonic] = AgentNovaSonic
    session_continuation: SessionContinuationParams | None = None
    delivery: DeliveryPolicy = field(default_factory=DeliveryPolicy)
    daily_transport: Callable[[DailyRunnerArguments], BaseTransport] = daily_transport


async def bot(runner_args: RunnerArguments) -> None:
    logs.configure(os.environ)
    await run_bot(runner_args, BotDeps())


async def run_bot(runner_args: RunnerArguments, deps: BotDeps) -> None:
    """Run one session; a session that cannot start logs one line saying why and returns (the platform then
    closes the call), never a stack trace."""
    try:
        config = load_agent_config(deps.environ)
    except AgentConfigError as exc:
        logger.error(f"session refused: invalid agent configuration: {exc}")
        return
    if isinstance(runner_args, WebSocketRunnerArguments):
        line = await _twilio(runner_args, deps)
        if line is None:
            return
    elif isinstance(runner_args, DailyRunnerArguments):
        line = _daily(runner_args, deps)
    else:
        logger.error(f"session refused: unsupported runner arguments {type(runner_args).__name__}")
        return
    # Pipecat Cloud gives every session an id (the Session API's key); a local Twilio call is keyed by its CallSid
    session_id = runner_args.session_id or line.call_sid or str(uuid.uuid4())
    record = CallRecord(
        agent_id=config.agent_id,
        config_version=config.version,
        transport=line.kind,
        call_id=line.call_sid or session_id,
        session_id=session_id,
        caller_number=line.caller_number,
    )
    caller = call_overrides(config.llm_context, line.body)  # the session body is untrusted: only permitted keys
    factory = functools.partial(
        make_llm, environ=deps.environ, cls=deps.llm_class, session_continuation=deps.session_continuation
    )
    try:
        session = AgentSession(
            session_id=session_id,
            config=config,
            caller=caller,
            transport=line.transport,
            call=CallState(record=record, call_sid=line.call_sid, call_control=line.call_control),
            make_llm=factory,
            weather=WeatherClient.from_env(deps.environ),
            reporter=CallReporter(record, config.llm_context, deps.environ, deps.delivery),
            recording_rate=line.audio_rate,
            idle_timeout_s=runner_args.pipeline_idle_timeout_secs,
        )
    except AgentConfigError as exc:
        logger.error(f"session {session_id} refused: {exc}")
        return
    logger.info(f"session {session_id}: agent {config.agent_id} v{config.version} on {line.kind}")
    await session.run()


def _daily(runner_args: DailyRunnerArguments, deps: BotDeps) -> Line:
    """A Daily session; a PSTN dial-in names the caller in the body's `dialin_settings.From`."""
    body = runner_args.body
    dialin = body.get("dialin_settings") if isinstance(body, Mapping) else None
    caller = dialin.get("From") if isinstance(dialin, Mapping) else None
    return Line(
        transport=deps.daily_transport(runner_args),
        kind="daily",
        body=body,
        audio_rate=PipelineParams().audio_out_sample_rate,
        caller_number=caller if isinstance(caller, str) else None,
    )


async def _twilio(runner_args: WebSocketRunnerArguments, deps: BotDeps) -> Line | None:
    """A Twilio media stream: the `connected` and `start` messages name the stream and the call."""
    try:
        transport_type, call_data = await parse_telephony_websocket(runner_args.websocket)
    except Exception as exc:  # the caller hung up before the stream started, or garbage on the socket
        logger.error(f"session refused: no Twilio media stream start ({type(exc).__name__})")
        return None
    if transport_type != "twilio":
        logger.error(f"session refused: websocket transport {transport_type!r} is not a Twilio media stream")
        return None
    if not is_call_sid(call_data["call_id"]):  # it goes into Twilio REST URLs: never a caller's choice
        logger.error(f"session refused: the stream's callSid is {NOT_A_CALL_SID}")
        return None
    env = deps.environ
    account_sid, auth_token = env.get("TWILIO_ACCOUNT_SID", ""), env.get("TWILIO_AUTH_TOKEN", "")
    control = None
    if account_sid and auth_token:
        base_url = env.get("TWILIO_API_BASE_URL") or TWILIO_API
        control = TwilioCallControl(account_sid=account_sid, auth_token=auth_token, base_url=base_url)
    else:
        logger.warning("TWILIO_ACCOUNT_SID/TWILIO_AUTH_TOKEN not set: no hang-up or transfer on this call")
    # our own serializer: automatic hang-up off, so ending the bot after a transfer does not cut the new leg
    params = TwilioFrameSerializer.InputParams(auto_hang_up=False)
    serializer = TwilioFrameSerializer(stream_sid=call_data["stream_id"], call_sid=call_data["call_id"], params=params)
    transport = FastAPIWebsocketTransport(
        runner_args.websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
            allowed_origins=[],  # Twilio sends no Origin; PIPECAT_ALLOWED_ORIGINS would refuse it
        ),
    )
    custom = call_data.get("body")  # the stream's <Parameter>s; a generic websocket session's ?body= otherwise
    caller = call_data.get("from")  # pipecat promotes the `from_number` parameter
    return Line(
        transport=transport,
        kind="twilio",
        body=custom if isinstance(custom, Mapping) and custom else runner_args.body,
        audio_rate=params.twilio_sample_rate,
        call_sid=call_data["call_id"],
        caller_number=caller if isinstance(caller, str) and caller else None,
        call_control=control,
    )


if __name__ == "__main__":  # local development: `python -m agent_bot.bot -t daily|twilio` (pipecat's runner)
    from pipecat.runner.run import app as runner_app
    from pipecat.runner.run import main

    context_api.install(runner_app)  # POST /context on the runner's server too (header x-daily-session-id)
    logs.configure(os.environ)
    main()
