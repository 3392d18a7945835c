"""How a Twilio call reaches an agent on Pipecat Cloud: the media-stream URL of the agent's region and the
`<Connect><Stream>` TwiML. config-sync prints it for a phone number (`config-sync twiml`); the bot writes it to come
back to a caller whose transfer nobody answered."""

from __future__ import annotations

from collections.abc import Iterable
from xml.sax.saxutils import quoteattr

SERVICE_HOST_PARAMETER = "_pipecatCloudServiceHost"  # Pipecat Cloud routes the stream to `{agent}.{org}`


def stream_url(region: str | None) -> str:
    """Pipecat Cloud's Twilio websocket: the default region's, or the agent's region's (it must run there)."""
    host = f"{region}.api.pipecat.daily.co" if region else "api.pipecat.daily.co"
    return f"wss://{host}/ws/twilio"


def service_host(agent_name: str, organization: str) -> str:
    return f"{agent_name}.{organization}"


def connect_stream(url: str, parameters: Iterable[tuple[str, str]]) -> str:
    """`<Connect><Stream>` to `url` with custom `<Parameter>`s (they reach the bot as the stream's `call_data.body`)."""
    params = "".join(f"<Parameter name={quoteattr(name)} value={quoteattr(value)}/>" for name, value in parameters)
    return f"<Connect><Stream url={quoteattr(url)}>{params}</Stream></Connect>"


def response(*verbs: str, declaration: bool = True) -> str:
    """A TwiML document of `verbs` (without the XML declaration: the `Twiml` of a REST call update)."""
    body = f"<Response>{''.join(verbs)}</Response>"
    return f'<?xml version="1.0" encoding="UTF-8"?>{body}' if declaration else body
