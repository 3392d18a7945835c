"""The Pipecat Cloud entry point: `async def bot(runner_args)` for Daily (WebRTC) and Twilio (phone) sessions."""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from loguru import logger
from pipecat.runner.types import DailyRunnerArguments, RunnerArguments, WebSocketRunnerArguments
from pipecat.runner.utils import parse_telephony_websocket
from pipecat.serializers.twilio import TwilioFrameSerializer
from pipecat.services.aws.nova_sonic.llm import AWSNovaSonicLLMService
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams
from pipecat.transports.base_transport import BaseTransport
from pipecat.transports.websocket.fastapi import FastAPIWebsocketParams, FastAPIWebsocketTransport

from agent_bot import context_api
from agent_bot.callctl import TwilioCallControl
from agent_bot.config import AgentConfigError, call_overrides, load_agent_config
from agent_bot.llm import make_llm
from agent_bot.session import AgentSession
from agent_bot.tools import CallState, WeatherClient

context_api.install()  # POST /context on Pipecat Cloud's Session API app, when running in the base image


@dataclass
class BotDeps:
    """What the bot takes from its surroundings; tests replace the Nova Sonic class (the one faked seam)."""

    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    llm_class: type[AWSNovaSonicLLMService] = AWSNovaSonicLLMService
    twilio_base_url: str = "https://api.twilio.com"
    weather: WeatherClient | None = None
    session_continuation: SessionContinuationParams | None = None


async def bot(runner_args: RunnerArguments) -> None:
    await run_bot(runner_args, BotDeps())


async def run_bot(runner_args: RunnerArguments, deps: BotDeps) -> None:
    try:
        config = load_agent_config(deps.environ)
    except AgentConfigError as exc:
        logger.error(f"session refused: invalid agent configuration: {exc}")
        return
    session_id = runner_args.session_id or str(uuid.uuid4())
    body: Any
    if isinstance(runner_args, WebSocketRunnerArguments):
        prepared = await _twilio(runner_args, deps)
        if prepared is None:
            return
        transport, call, body = prepared
    elif isinstance(runner_args, DailyRunnerArguments):
        transport, call = _daily(runner_args), CallState(channel="daily")
        body = runner_args.body
    else:
        logger.error(f"session refused: unsupported runner arguments {type(runner_args).__name__}")
        return
    caller = call_overrides(config.llm_context, body)  # the session body is untrusted: only permitted keys
    factory = functools.partial(
        make_llm, environ=deps.environ, cls=deps.llm_class, session_continuation=deps.session_continuation
    )
    try:
        session = AgentSession(
            session_id=session_id,
            config=config,
            caller=caller,
            transport=transport,
            call=call,
            make_llm=factory,
            weather=deps.weather,
            idle_timeout_s=runner_args.pipeline_idle_timeout_secs,
        )
    except AgentConfigError as exc:
        logger.error(f"session refused: {exc}")
        return
    logger.info(f"session {session_id}: agent {config.agent_id} v{config.version} on {call.channel}")
    await session.run()


def _daily(runner_args: DailyRunnerArguments) -> BaseTransport:
    from pipecat.transports.daily.transport import DailyParams, DailyTransport

    return DailyTransport(
        runner_args.room_url,
        runner_args.token,
        "Voice agent",
        DailyParams(audio_in_enabled=True, audio_out_enabled=True),
    )


async def _twilio(
    runner_args: WebSocketRunnerArguments, deps: BotDeps
) -> tuple[BaseTransport, CallState, dict[str, Any]] | None:
    transport_type, call_data = await parse_telephony_websocket(runner_args.websocket)
    if transport_type != "twilio":
        logger.error(f"session refused: websocket transport {transport_type!r} is not a Twilio media stream")
        return None
    env = deps.environ
    account_sid, auth_token = env.get("TWILIO_ACCOUNT_SID", ""), env.get("TWILIO_AUTH_TOKEN", "")
    control = (
        TwilioCallControl(account_sid=account_sid, auth_token=auth_token, base_url=deps.twilio_base_url)
        if account_sid and auth_token
        else None
    )
    # our own serializer: automatic hang-up off, so ending the bot after a transfer does not cut the new leg
    serializer = TwilioFrameSerializer(
        stream_sid=call_data["stream_id"],
        call_sid=call_data["call_id"],
        params=TwilioFrameSerializer.InputParams(auto_hang_up=False),
    )
    transport = FastAPIWebsocketTransport(
        runner_args.websocket,
        FastAPIWebsocketParams(
            audio_in_enabled=True,
            audio_out_enabled=True,
            add_wav_header=False,
            serializer=serializer,
            allowed_origins=[],
        ),
    )
    call = CallState(channel="twilio", call_sid=call_data["call_id"], call_control=control)
    body = dict(call_data.get("body") or {}) or dict(runner_args.body or {})
    return transport, call, body


if __name__ == "__main__":  # local development: `python -m agent_bot.bot -t daily` (pipecat's runner)
    from pipecat.runner.run import main

    main()
