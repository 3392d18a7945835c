"""The ticket that ties a local Twilio media stream to the call whose TwiML issued it.

`/incoming-call` (signed by Twilio) adds `<Parameter name="stream_token">` to its `<Stream>`; Twilio sends it back in
the stream's start message, and `/media-stream` runs the bot only when it is an HMAC-SHA256, under a key the server
holds, of that stream's call sid and an expiry still in the future. A stream someone else opened has no ticket, and
one copied from another call or kept past its expiry does not verify.
"""

from __future__ import annotations

import hashlib
import hmac

PARAMETER = "stream_token"
TTL_S = 60  # Twilio opens the stream within a second or two of reading the TwiML
_KEY_LABEL = b"agent_bot media-stream token v1"


class StreamTokenError(ValueError):
    """The stream has no valid ticket; `str()` says why, never the ticket itself."""


def key_from(auth_token: str) -> bytes:
    """A key of its own, derived from TWILIO_AUTH_TOKEN: every worker process agrees on it without a new setting."""
    return hmac.new(auth_token.encode(), _KEY_LABEL, hashlib.sha256).digest()


def _mac(key: bytes, call_sid: str, expires: int) -> str:
    return hmac.new(key, f"{call_sid}\n{expires}".encode(), hashlib.sha256).hexdigest()


def issue(key: bytes, call_sid: str, now: float, ttl_s: int = TTL_S) -> str:
    """`<expiry>.<hmac>` for this call, valid `ttl_s` seconds from `now`."""
    expires = int(now) + ttl_s
    return f"{expires}.{_mac(key, call_sid, expires)}"


def verify(key: bytes, token: object, call_sid: str, now: float) -> None:
    """Raise `StreamTokenError` unless `token` was issued for `call_sid` and has not expired at `now`."""
    if not isinstance(token, str) or not token:
        raise StreamTokenError("no stream token (only a stream the TwiML issued is accepted)")
    expires, _, mac = token.partition(".")
    if not (expires.isascii() and expires.isdigit() and len(expires) <= 12 and len(mac) == 64):
        raise StreamTokenError("malformed stream token")
    if not hmac.compare_digest(mac.encode(), _mac(key, call_sid, int(expires)).encode()):
        raise StreamTokenError("stream token not valid for this call")
    if now > int(expires):
        raise StreamTokenError("stream token expired")
