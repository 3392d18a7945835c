"""Local Twilio flow outside Pipecat Cloud: `POST /incoming-call` → TwiML `<Connect><Stream>` → `/media-stream`.

Run: `PUBLIC_HOST=abc.ngrok.app TWILIO_AUTH_TOKEN=… uvicorn agent_bot.server:app --port 7860`, and point the
Twilio number's voice webhook at `https://PUBLIC_HOST/incoming-call`. Requests without a valid
`X-Twilio-Signature` are refused (403).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from xml.sax.saxutils import quoteattr

from fastapi import FastAPI, HTTPException, Request, WebSocket
from fastapi.responses import Response
from pipecat.runner.types import WebSocketRunnerArguments
from twilio.request_validator import RequestValidator

from agent_bot import context_api
from agent_bot.bot import BotDeps, run_bot


def create_app(environ: Mapping[str, str] | None = None, deps: BotDeps | None = None) -> FastAPI:
    env = dict(os.environ if environ is None else environ)
    validator = RequestValidator(env.get("TWILIO_AUTH_TOKEN", ""))
    app = FastAPI(title="agent bot (local Twilio)")
    context_api.install(app)

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {"status": "ok"}

    @app.post("/incoming-call")
    async def incoming_call(request: Request) -> Response:
        form = {k: str(v) for k, v in (await request.form()).items()}
        public = env.get("PUBLIC_HOST") or request.url.netloc
        # Twilio signs the URL it was configured with: the public https address, query string included
        url = f"https://{public}{request.url.path}" + (f"?{request.url.query}" if request.url.query else "")
        signature = request.headers.get("x-twilio-signature", "")
        if not signature or not validator.validate(url, form, signature):
            raise HTTPException(403, "invalid Twilio signature")
        stream = f"wss://{public}/media-stream"
        # custom parameters reach the bot as call_data.body; pipecat promotes from_number/to_number to from/to
        params = "".join(
            f"<Parameter name={quoteattr(name)} value={quoteattr(form[key])}/>"
            for key, name in (("From", "from_number"), ("To", "to_number"))
            if key in form
        )
        twiml = (
            f'<?xml version="1.0" encoding="UTF-8"?><Response><Connect><Stream url={quoteattr(stream)}>'
            f"{params}</Stream></Connect></Response>"
        )
        return Response(twiml, media_type="application/xml")

    @app.websocket("/media-stream")
    async def media_stream(websocket: WebSocket) -> None:
        await websocket.accept()
        await run_bot(WebSocketRunnerArguments(websocket=websocket), deps or BotDeps(environ=env))

    return app


app = create_app()
