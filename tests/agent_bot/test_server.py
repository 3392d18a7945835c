"""The local Twilio webhook: valid TwiML to the right websocket, signatures checked with Twilio's own validator,
nothing served without TWILIO_AUTH_TOKEN, and `/media-stream` running the bot only for a stream the TwiML issued."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Callable

import httpx
import pytest
import websockets
from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from agent_bot import stream_token
from agent_bot.bot import BotDeps
from agent_bot.server import create_app
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.support import CALL_SID, agent_env, closed_by_bot, log_lines, serve, twilio_start

TOKEN = "twilio-auth-token-for-tests"
HOST = "agent.example.com"
FORM = {"CallSid": CALL_SID, "From": "+15551230000", "To": "+15559870000"}
URL = f"https://{HOST}/incoming-call"
OTHER_CALL = "CA00000000000000000000000000000002"
T0 = 1_800_000_000.0


def signed(form: dict[str, str], url: str = URL, token: str = TOKEN) -> dict[str, str]:
    return {"X-Twilio-Signature": RequestValidator(token).compute_signature(url, form)}


def client() -> TestClient:
    return TestClient(create_app({"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_HOST": HOST}))


def parameters(twiml: str) -> dict[str, str]:
    stream = ET.fromstring(twiml).find("./Connect/Stream")
    assert stream is not None
    return {str(p.get("name")): str(p.get("value")) for p in stream.findall("Parameter")}


def test_signed_call_gets_twiml_streaming_to_our_websocket() -> None:
    answer = client().post("/incoming-call", data=FORM, headers=signed(FORM))
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(answer.text)
    stream = root.find("./Connect/Stream")
    assert root.tag == "Response" and stream is not None
    assert stream.get("url") == "wss://agent.example.com/media-stream"
    custom = parameters(answer.text)
    assert custom.pop(stream_token.PARAMETER)  # the stream's ticket, checked in the tests below
    assert custom == {"from_number": "+15551230000", "to_number": "+15559870000"}


def test_the_signature_covers_the_query_string() -> None:
    http = client()
    headers = signed(FORM, URL + "?agent=support")
    assert http.post("/incoming-call?agent=support", data=FORM, headers=headers).is_success
    assert http.post("/incoming-call?agent=sales", data=FORM, headers=headers).status_code == 403


def test_unsigned_and_badly_signed_calls_are_refused() -> None:
    http = client()
    assert http.post("/incoming-call", data=FORM).status_code == 403
    assert http.post("/incoming-call", data=FORM, headers=signed(FORM, token="another-token")).status_code == 403
    assert http.post("/incoming-call", data=FORM | {"To": "+1999"}, headers=signed(FORM)).status_code == 403
    assert http.get("/health").json() == {"status": "ok"}


@pytest.mark.parametrize("call_sid", ["../../AC666/Calls/CA1", "CA123", ""])
def test_a_signed_request_without_a_real_call_sid_gets_no_stream(call_sid: str) -> None:
    form = FORM | {"CallSid": call_sid}
    answer = client().post("/incoming-call", data=form, headers=signed(form))
    assert answer.status_code == 400
    assert answer.json() == {"detail": "CallSid is not a Twilio call sid (CA + 32 hex digits)"}


@pytest.mark.parametrize("environ", [{"PUBLIC_HOST": HOST}, {"PUBLIC_HOST": HOST, "TWILIO_AUTH_TOKEN": ""}])
def test_without_an_auth_token_nothing_is_served_and_start_up_says_why(environ: dict[str, str]) -> None:
    """Fail closed: an empty key would make every signature computable by anyone."""
    with log_lines("ERROR") as lines, TestClient(create_app(environ)) as http:
        forged = signed(FORM, token="")
        answer = http.post("/incoming-call", data=FORM, headers=forged)
        assert answer.status_code == 503
        assert answer.json() == {"detail": "TWILIO_AUTH_TOKEN is not set: this server refuses Twilio webhooks"}
        health = http.get("/health")
        assert health.status_code == 503
        assert health.json() == {"status": "refusing calls: TWILIO_AUTH_TOKEN is not set"}
        with http.websocket_connect("/media-stream") as ws:
            for message in twilio_start({stream_token.PARAMETER: "x"}):
                ws.send_text(message)
            assert ws.receive()["type"] == "websocket.close"
    assert lines[0] == (
        "TWILIO_AUTH_TOKEN is not set: /incoming-call and /media-stream refuse every request until it is "
        "(Twilio signs its webhooks with it; without it anyone could forge them)"
    )
    assert lines[1:] == ["media stream refused: TWILIO_AUTH_TOKEN is not set"]


class Clock:
    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> float:
        return self.now


async def issued_token(base: str, form: dict[str, str] = FORM) -> str:
    """What Twilio gets back from `/incoming-call`: the stream's signed ticket."""
    async with httpx.AsyncClient(base_url=f"http://{base}") as http:
        answer = await http.post("/incoming-call", data=form, headers=signed(form))
    assert answer.status_code == 200, answer.text
    return parameters(answer.text)[stream_token.PARAMETER]


def media_server(nova: FakeNovaSonic, clock: Callable[[], float]) -> object:
    env = agent_env(PUBLIC_HOST=HOST, TWILIO_AUTH_TOKEN=TOKEN)
    return create_app(env, BotDeps(environ=env, llm_class=nova.llm_class()), clock=clock)


async def test_a_stream_the_twiml_issued_runs_the_bot() -> None:
    nova, clock = FakeNovaSonic(), Clock()
    async with serve(media_server(nova, clock)) as base:  # type: ignore[arg-type]
        token = await issued_token(base)
        clock.now += stream_token.TTL_S - 1  # Twilio connects within seconds; still inside the ticket's life
        async with websockets.connect(f"ws://{base}/media-stream") as ws:
            for message in twilio_start({stream_token.PARAMETER: token, "from_number": "+15551230000"}):
                await ws.send(message)
            stream = await nova.stream()
            await stream.wait_for("promptStart")  # the bot is running the call


def tampered(token: str) -> str:
    return token[:-1] + ("0" if token[-1] != "0" else "1")


@pytest.mark.parametrize(
    ("present", "start_call", "later_s", "reason"),
    [
        (lambda token: None, CALL_SID, 0, "no stream token (only a stream the TwiML issued is accepted)"),
        (lambda token: "not-a-token", CALL_SID, 0, "malformed stream token"),
        (tampered, CALL_SID, 0, "stream token not valid for this call"),
        (lambda token: token, OTHER_CALL, 0, "stream token not valid for this call"),
        (lambda token: token, CALL_SID, stream_token.TTL_S + 1, "stream token expired"),
    ],
    ids=["missing", "malformed", "tampered", "another-call", "reused-after-expiry"],
)
async def test_a_stream_without_a_valid_ticket_is_closed_before_the_bot_runs(
    present: Callable[[str], str | None], start_call: str, later_s: float, reason: str
) -> None:
    nova, clock = FakeNovaSonic(), Clock()
    with log_lines("ERROR") as lines:
        async with serve(media_server(nova, clock)) as base:  # type: ignore[arg-type]
            token = await issued_token(base)
            clock.now += later_s
            shown = present(token)
            custom = {stream_token.PARAMETER: shown} if shown is not None else {}
            async with websockets.connect(f"ws://{base}/media-stream") as ws:
                assert await closed_by_bot(ws, twilio_start(custom, call_sid=start_call))
                assert ws.close_code == 1008  # policy violation
    assert nova.streams == []  # no model session: the bot never ran
    assert lines == [f"media stream refused: {reason}"]
    assert token not in " ".join(lines)
