"""Twilio call control over its REST API: hang up, or redirect the live call to a person (`<Dial>`)."""

from __future__ import annotations

import re
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")  # Twilio's form of a call's sid
NOT_A_CALL_SID = "not a Twilio call sid (CA + 32 hex digits)"


def is_call_sid(value: object) -> bool:
    """True for a Twilio call sid. Call sids come from the media stream's start message and go into REST URLs
    sent with the account's credentials, so anything else (`../`, `?`, another account's path) is refused."""
    return isinstance(value, str) and CALL_SID.fullmatch(value) is not None


class TwilioCallControl:
    def __init__(
        self, *, account_sid: str, auth_token: str, base_url: str = "https://api.twilio.com", timeout_s: float = 10.0
    ) -> None:
        self.account_sid = account_sid
        self._auth = (account_sid, auth_token)
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s

    def __repr__(self) -> str:
        return f"TwilioCallControl(account_sid={self.account_sid!r}, base_url={self.base_url!r})"

    async def _update_call(self, call_sid: str, data: dict[str, str]) -> None:
        if not is_call_sid(call_sid):
            raise ValueError(NOT_A_CALL_SID)
        account, call = quote(self.account_sid, safe=""), quote(call_sid, safe="")  # path segments, whatever happens
        url = f"{self.base_url}/2010-04-01/Accounts/{account}/Calls/{call}.json"
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            response = await http.post(url, data=data, auth=self._auth)
            response.raise_for_status()

    async def hangup(self, call_sid: str) -> None:
        await self._update_call(call_sid, {"Status": "completed"})

    async def transfer(self, call_sid: str, target: str) -> None:
        """Replace the call's TwiML with a `<Dial>` to a phone number or a SIP URI."""
        noun = f"<Sip>{escape(target)}</Sip>" if target.startswith("sip:") else f"<Number>{escape(target)}</Number>"
        await self._update_call(call_sid, {"Twiml": f"<Response><Dial>{noun}</Dial></Response>"})
