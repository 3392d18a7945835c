"""The local Twilio webhook: valid TwiML to the right websocket, signatures checked with Twilio's own validator."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from fastapi.testclient import TestClient
from twilio.request_validator import RequestValidator

from agent_bot.server import create_app

TOKEN = "twilio-auth-token-for-tests"
FORM = {"CallSid": "CA123", "From": "+15551230000", "To": "+15559870000"}
URL = "https://agent.example.com/incoming-call"


def client() -> TestClient:
    return TestClient(create_app({"TWILIO_AUTH_TOKEN": TOKEN, "PUBLIC_HOST": "agent.example.com"}))


def test_signed_call_gets_twiml_streaming_to_our_websocket() -> None:
    signature = RequestValidator(TOKEN).compute_signature(URL, FORM)
    answer = client().post("/incoming-call", data=FORM, headers={"X-Twilio-Signature": signature})
    assert answer.status_code == 200 and answer.headers["content-type"].startswith("application/xml")
    root = ET.fromstring(answer.text)
    stream = root.find("./Connect/Stream")
    assert root.tag == "Response" and stream is not None
    assert stream.get("url") == "wss://agent.example.com/media-stream"
    assert {p.get("name"): p.get("value") for p in stream.findall("Parameter")} == {
        "from_number": "+15551230000",
        "to_number": "+15559870000",
    }


def test_the_signature_covers_the_query_string() -> None:
    url = URL + "?agent=support"
    signature = RequestValidator(TOKEN).compute_signature(url, FORM)
    http = client()
    assert http.post("/incoming-call?agent=support", data=FORM, headers={"X-Twilio-Signature": signature}).is_success
    assert (
        http.post("/incoming-call?agent=sales", data=FORM, headers={"X-Twilio-Signature": signature}).status_code == 403
    )


def test_unsigned_and_badly_signed_calls_are_refused() -> None:
    http = client()
    assert http.post("/incoming-call", data=FORM).status_code == 403
    wrong = RequestValidator("another-token").compute_signature(URL, FORM)
    assert http.post("/incoming-call", data=FORM, headers={"X-Twilio-Signature": wrong}).status_code == 403
    tampered = RequestValidator(TOKEN).compute_signature(URL, FORM)
    assert (
        http.post("/incoming-call", data=FORM | {"To": "+1999"}, headers={"X-Twilio-Signature": tampered}).status_code
        == 403
    )
    assert http.get("/health").json() == {"status": "ok"}
