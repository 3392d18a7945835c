"""Local Twilio flow outside Pipecat Cloud: `POST /incoming-call` → TwiML `<Connect><Stream>` → `/media-stream`.

Run: `PUBLIC_HOST=abc.ngrok.app TWILIO_AUTH_TOKEN=… uvicorn agent_bot.server:app --port 7860`, and point the
Twilio number's voice webhook at `https://PUBLIC_HOST/incoming-call`. Requests without a valid
`X-Twilio-Signature` are refused (403); without TWILIO_AUTH_TOKEN every request is (503), and start-up says so.
`/media-stream` runs the bot only for a stream carrying the ticket its TwiML issued (`stream_token`).
"""

from __future__ import annotations

import os
import time
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from xml.sax.saxutils import quoteattr

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import JSONResponse, Response
from loguru import logger
from pipecat.runner.types import WebSocketRunnerArguments
from pipecat.runner.utils import parse_telephony_websocket
from twilio.request_validator import RequestValidator

from agent_bot import callctl, context_api, logs, stream_token
from agent_bot.bot import BotDeps, run_bot

NO_AUTH_TOKEN = "TWILIO_AUTH_TOKEN is not set"  # noqa: S105  (a message, not a secret)
POLICY_VIOLATION = 1008  # websocket close code


@dataclass(frozen=True)
class TwilioGate:
    """What lets a request in, all from TWILIO_AUTH_TOKEN. Without it (or with an empty one) there is no validator
    and no key, and everything is refused: with an empty key anyone could compute a valid signature."""

    validator: RequestValidator | None
    key: bytes | None
    clock: Callable[[], float]

    @classmethod
    def from_env(cls, env: Mapping[str, str], clock: Callable[[], float]) -> TwilioGate:
        token = env.get("TWILIO_AUTH_TOKEN", "")
        return cls(RequestValidator(token) if token else None, stream_token.key_from(token) if token else None, clock)

    async def refusal(self, websocket: WebSocket) -> str | None:
        """Why this media stream may not run the bot, or None. Reads the start message (pipecat caches it, so the
        bot reads it again for free)."""
        if self.key is None:
            return NO_AUTH_TOKEN
        try:
            _, call_data = await parse_telephony_websocket(websocket)
        except Exception:  # the peer went away or sent garbage before any start message
            return "no Twilio media stream start"
        custom = call_data.get("body")
        ticket = custom.get(stream_token.PARAMETER) if isinstance(custom, Mapping) else None
        try:
            stream_token.verify(self.key, ticket, str(call_data.get("call_id") or ""), self.clock())
        except stream_token.StreamTokenError as exc:
            return str(exc)
        return None


def create_app(
    environ: Mapping[str, str] | None = None, deps: BotDeps | None = None, clock: Callable[[], float] = time.time
) -> FastAPI:
    env = dict(os.environ if environ is None else environ)
    gate = TwilioGate.from_env(env, clock)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if environ is None:  # the real server (`make bot-twilio`), not a test's: JSON-line logs
            logs.configure(env)
        if gate.validator is None:
            logger.error(
                f"{NO_AUTH_TOKEN}: /incoming-call and /media-stream refuse every request until it is "
                "(Twilio signs its webhooks with it; without it anyone could forge them)"
            )
        yield

    app = FastAPI(title="agent bot (local Twilio)", lifespan=lifespan)
    context_api.install(app)

    @app.get("/health", response_model=None)
    async def health() -> dict[str, str] | JSONResponse:
        if gate.validator is None:
            return JSONResponse({"status": f"refusing calls: {NO_AUTH_TOKEN}"}, status_code=503)
        return {"status": "ok"}

    @app.post("/incoming-call")
    async def incoming_call(request: Request) -> Response:
        if gate.validator is None or gate.key is None:
            raise HTTPException(503, f"{NO_AUTH_TOKEN}: this server refuses Twilio webhooks")
        form = {k: str(v) for k, v in (await request.form()).items()}
        public = env.get("PUBLIC_HOST") or request.url.netloc
        # Twilio signs the URL it was configured with: the public https address, query string included
        url = f"https://{public}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not gate.validator.validate(url, form, signature):
            raise HTTPException(403, "invalid Twilio signature")
        call_sid = form.get("CallSid", "")
        if not callctl.is_call_sid(call_sid):
            raise HTTPException(400, f"CallSid is {callctl.NOT_A_CALL_SID}")
        ticket = stream_token.issue(gate.key, call_sid, clock())
        return Response(twiml(f"wss://{public}/media-stream", form, ticket), media_type="application/xml")

    @app.websocket("/media-stream")
    async def media_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        reason = await gate.refusal(websocket)
        if reason is not None:
            logger.error(f"media stream refused: {reason}")
            await websocket.close(code=POLICY_VIOLATION)
            return
        await run_bot(WebSocketRunnerArguments(websocket=websocket), deps or BotDeps(environ=env))

    return app


def twiml(stream_url: str, form: Mapping[str, str], ticket: str) -> str:
    """`<Connect><Stream>` to our websocket. Custom parameters reach the bot as call_data.body (pipecat promotes
    from_number/to_number to from/to); the ticket comes back to `/media-stream` the same way."""
    custom = [(name, form[key]) for key, name in (("From", "from_number"), ("To", "to_number")) if key in form]
    params = "".join(
        f"<Parameter name={quoteattr(name)} value={quoteattr(value)}/>"
        for name, value in [*custom, (stream_token.PARAMETER, ticket)]
    )
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url={quoteattr(stream_url)}>'
        f"{params}</Stream></Connect></Response>"
    )


app = create_app()
