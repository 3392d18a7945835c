"""Twilio's REST API for the bot: hang up, redirect the live call to a person (`<Dial>`), learn how that dial
ended, and send a text (the Messages API)."""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import quote
from xml.sax.saxutils import escape

import httpx

from agent_schema import telephony

CALL_SID = re.compile(r"CA[0-9a-fA-F]{32}")  # Twilio's form of a call's sid
NOT_A_CALL_SID = "not a Twilio call sid (CA + 32 hex digits)"
# how a dial's leg ends when nobody took the call; `completed` means it was answered and has ended since
UNANSWERED = ("no-answer", "busy", "failed", "canceled")
ANSWERED = ("completed", "in-progress")
DIAL_OUTCOME_WAIT_S = 5.0  # a leg Twilio still reports as ringing when the caller is back: asked again till then


def is_call_sid(value: object) -> bool:
    """True for a Twilio call sid. Call sids come from the media stream's start message and go into REST URLs
    sent with the account's credentials, so anything else (`../`, `?`, another account's path) is refused."""
    return isinstance(value, str) and CALL_SID.fullmatch(value) is not None


def dial(target: str) -> str:
    """`<Dial>` to a phone number or a SIP URI."""
    noun = f"<Sip>{escape(target)}</Sip>" if target.startswith("sip:") else f"<Number>{escape(target)}</Number>"
    return f"<Dial>{noun}</Dial>"


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

    def _url(self, resource: str) -> str:
        return f"{self.base_url}/2010-04-01/Accounts/{quote(self.account_sid, safe='')}/{resource}"

    async def _request(self, method: str, resource: str, **kwargs: Any) -> Any:
        async with httpx.AsyncClient(timeout=self.timeout_s) as http:
            response = await http.request(method, self._url(resource), auth=self._auth, **kwargs)
            response.raise_for_status()
            return response.json()

    async def _update_call(self, call_sid: str, data: dict[str, str]) -> None:
        if not is_call_sid(call_sid):
            raise ValueError(NOT_A_CALL_SID)
        await self._request("POST", f"Calls/{quote(call_sid, safe='')}.json", data=data)  # escaped, whatever happens

    async def hangup(self, call_sid: str) -> None:
        await self._update_call(call_sid, {"Status": "completed"})

    async def transfer(self, call_sid: str, target: str, then: str = "") -> None:
        """Replace the call's TwiML with a `<Dial>` to a phone number or a SIP URI, followed by `then` (TwiML verbs
        Twilio runs when the dial ends with the caller still on the line: nobody answered, or the person hung up)."""
        await self._update_call(call_sid, {"Twiml": telephony.response(dial(target), then, declaration=False)})

    async def dial_outcome(self, call_sid: str) -> str:
        """How the call's `<Dial>` ended: its leg's status (`completed` once answered, else `no-answer`, `busy`,
        `failed`, `canceled`); `failed` when the dial made no leg at all. A leg still reported as ringing is asked
        about again for a few seconds (Twilio's records may lag the call), then taken as unanswered."""
        if not is_call_sid(call_sid):
            raise ValueError(NOT_A_CALL_SID)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + DIAL_OUTCOME_WAIT_S
        while True:
            legs = (await self._request("GET", "Calls.json", params={"ParentCallSid": call_sid})).get("calls")
            statuses = [str(leg.get("status")) for leg in legs or [] if isinstance(leg, dict)]
            if not statuses:
                return "failed"
            if "completed" in statuses:
                return "completed"
            if all(status in UNANSWERED for status in statuses):
                return statuses[0]
            if loop.time() >= deadline:
                return "in-progress" if "in-progress" in statuses else "no-answer"
            await asyncio.sleep(0.5)

    async def send_sms(self, *, to: str, sender: str, body: str) -> str:
        """Text `body` to `to` from `sender` (a number of the account); the message's sid."""
        sent = await self._request("POST", "Messages.json", data={"To": to, "From": sender, "Body": body})
        return str(sent.get("sid", ""))
