"""A transfer nobody takes. With voicemail on, the transfer's TwiML is `<Dial>` followed by `<Connect><Stream>`
back to this agent: Twilio runs it when the dial ends with the caller still on the line, and the new stream marks
itself with the `transfer_return` parameter. The bot then asks Twilio's REST API how the dial's leg ended: nobody
answered (no-answer, busy, failed, canceled) → voicemail; answered, and the person hung up first → the call ends."""

from __future__ import annotations

import time
from collections.abc import Mapping

from agent_bot import stream_token
from agent_schema import telephony

TRANSFER_RETURN = "transfer_return"  # the stream <Parameter> of a caller back from a transfer
STREAM_URL_ENV = "TWILIO_STREAM_URL"  # where Twilio reaches this bot, when not through Pipecat Cloud
COMEBACK_TTL_S = 3600  # a local server's stream token must outlive the ringing (Twilio's dial rings up to 600 s)


def comeback(custom: Mapping[str, str], environ: Mapping[str, str], region: str | None, call_sid: str) -> str:
    """`<Connect><Stream>` back to this agent with the call's own stream parameters, or "" when the bot cannot tell
    how Twilio reaches it: `TWILIO_STREAM_URL`, else Pipecat Cloud's URL for the region when the stream came
    through Pipecat Cloud (it carries the service host)."""
    parameters = {k: v for k, v in custom.items() if k not in (TRANSFER_RETURN, stream_token.PARAMETER)}
    url = environ.get(STREAM_URL_ENV, "")
    if not url and telephony.SERVICE_HOST_PARAMETER in parameters:
        url = telephony.stream_url(region)
    if not url:
        return ""
    token = environ.get("TWILIO_AUTH_TOKEN", "")
    if stream_token.PARAMETER in custom and token:  # the local server lets in only streams it issued a ticket for
        key = stream_token.key_from(token)
        parameters[stream_token.PARAMETER] = stream_token.issue(key, call_sid, time.time(), COMEBACK_TTL_S)
    parameters[TRANSFER_RETURN] = "1"
    return telephony.connect_stream(url, parameters.items())


def is_comeback(custom: Mapping[str, str]) -> bool:
    return custom.get(TRANSFER_RETURN) == "1"
