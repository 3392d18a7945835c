"""What happened on one call: its turns, tool calls and events, how it ended, and the documents made of them
(`transcript.json`, `metadata.json`, the webhooks' payloads)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

# how a call ended; the first reason given wins (an agent's end_call, then the caller's line closing, is the agent's)
AGENT_ENDED = "agent_ended"  # the agent's end_call, after its goodbye
TRANSFERRED = "transferred"  # transfer_call handed the caller to a person
CALLER_HUNG_UP = "caller_hung_up"  # the caller left (Twilio stopped the stream, the participant left)
IDLE_TIMEOUT = "idle_timeout"  # nothing happened for the session's idle timeout
ERROR = "error"  # the session failed
SESSION_ENDED = "session_ended"  # none of the above (the platform ended the session)

_E164 = re.compile(r"\+?[0-9]{5,15}")
# when two entries have the same start time (milliseconds), the caller's turn comes first, then what the agent did
# about it (tool calls, events), then what the agent said
_RANK = {"user": 0, "tool_call": 1, "event": 1, "assistant": 2}


def now() -> datetime:
    """The time to the millisecond, as the documents give it (so their durations add up)."""
    moment = datetime.now(UTC)
    return moment.replace(microsecond=moment.microsecond // 1000 * 1000)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds")


def _iso_or_none(moment: datetime | None) -> str | None:
    return iso(moment) if moment else None


def mask_number(number: str | None) -> str | None:
    """A phone number with every digit but the last four masked (`+*******4567`); anything else masked whole."""
    if number is None:
        return None
    if not _E164.fullmatch(number):
        return "(masked)"
    return "+" * number.startswith("+") + "*" * (len(number.lstrip("+")) - 4) + number[-4:]


@dataclass
class _Entry:
    started_at: datetime
    rank: int
    seq: int
    body: dict[str, Any]

    def document(self) -> dict[str, Any]:
        return {**self.body, "started_at": iso(self.started_at)}


@dataclass
class CallRecord:
    """Filled in while the call runs (turn events, tool frames, tools' own events), read when it has ended."""

    agent_id: str
    config_version: int
    transport: Literal["twilio", "daily"]
    call_id: str  # Twilio's CallSid, or the session id for Daily
    session_id: str
    caller_number: str | None = None
    started_at: datetime = field(default_factory=now)  # the session began: the caller is on the line
    answered_at: datetime | None = None  # the agent's pipeline runs: from here the call is recorded
    ended_at: datetime | None = None
    end_reason: str | None = None
    transfer_target: str | None = None
    _entries: list[_Entry] = field(default_factory=list)
    _tools: dict[str, _Entry] = field(default_factory=dict)  # by tool_call_id
    _waiting: dict[str, list[tuple[datetime, dict[str, Any]]]] = field(default_factory=dict)  # events of tools unseen

    def _add(self, kind: str, started_at: datetime, body: dict[str, Any]) -> _Entry:
        entry = _Entry(started_at, _RANK[kind], len(self._entries), body)
        self._entries.append(entry)
        return entry

    def turn(
        self, role: Literal["user", "assistant"], text: str, started_at: str, *, interrupted: bool = False
    ) -> None:
        """A turn as the context aggregators report it (start time in ISO 8601); empty turns are left out."""
        if not text.strip():
            return
        body: dict[str, Any] = {"type": "turn", "role": role, "text": text.strip()}
        if role == "assistant":
            body["interrupted"] = interrupted
        self._add(role, datetime.fromisoformat(started_at), body)

    def tool_started(self, tool_call_id: str, name: str, arguments: Any) -> None:
        body = {"type": "tool_call", "name": name, "arguments": arguments, "result": None}
        entry = self._tools[tool_call_id] = self._add("tool_call", now(), body)
        for _, event in self._waiting.pop(tool_call_id, []):
            self._add("event", entry.started_at, event)

    def tool_finished(self, tool_call_id: str, result: Any, error: str | None = None) -> None:
        entry = self._tools.get(tool_call_id)
        if entry is not None:
            entry.body["result"] = result
            if error:
                entry.body["error"] = error

    def event(self, name: str, *, tool_call_id: str | None = None, **details: Any) -> None:
        """Something the bot did or decided (a transfer, a context update). An event of a tool call comes right
        after that call, even when the tool reports it before the call's frame has been seen."""
        body = {"type": "event", "name": name, **details}
        tool = self._tools.get(tool_call_id) if tool_call_id else None
        if tool_call_id and tool is None:
            self._waiting.setdefault(tool_call_id, []).append((now(), body))
        else:
            self._add("event", tool.started_at if tool else now(), body)

    def end(self, reason: str) -> None:
        """Why the call ends (said when it is decided: an agent's end_call before its goodbye)."""
        if self.end_reason is None:
            self.end_reason = reason

    def answered(self) -> None:
        self.answered_at = self.answered_at or now()

    def over(self, reason: str | None = None) -> None:
        """The caller's side of the call is over now (the goodbye played, the line closed): its end time, and why
        if nothing said so before. Tearing the session down takes a moment more, which the duration leaves out."""
        self.ended_at = self.ended_at or now()
        if reason:
            self.end(reason)

    def finish(self) -> None:
        """The session is over: the end time if nothing gave one, and `session_ended` if nothing said why."""
        self.over()
        self.end(SESSION_ENDED)

    @property
    def duration_s(self) -> float:
        return round(((self.ended_at or now()) - self.started_at).total_seconds(), 3)

    def tools_used(self) -> list[str]:
        return list(dict.fromkeys(e.body["name"] for e in self._entries if e.body["type"] == "tool_call"))

    def entries(self) -> list[dict[str, Any]]:
        """Every entry in the order it happened."""
        for waiting in self._waiting.values():  # tool calls the pipeline ended before reporting
            for at, event in waiting:
                self._add("event", at, event)
        self._waiting.clear()
        return [e.document() for e in sorted(self._entries, key=lambda e: (e.started_at, e.rank, e.seq))]

    def ids(self) -> dict[str, Any]:
        """What names the call in every log line and document (no personal data)."""
        return {
            "agent_id": self.agent_id,
            "config_version": self.config_version,
            "transport": self.transport,
            "call_id": self.call_id,
            "session_id": self.session_id,
        }

    def caller(self, *, keep: bool) -> str | None:
        """The caller's number, masked unless `keep`."""
        return self.caller_number if keep else mask_number(self.caller_number)

    def metadata(self, *, keep_caller_number: bool) -> dict[str, Any]:
        return {
            **self.ids(),
            "caller_number": self.caller(keep=keep_caller_number),
            "started_at": iso(self.started_at),
            "answered_at": _iso_or_none(self.answered_at),
            "ended_at": _iso_or_none(self.ended_at),
            "duration_s": self.duration_s,
            "end_reason": self.end_reason,
            "tools_used": self.tools_used(),
            "transfer_target": self.transfer_target,
        }

    def transcript(self) -> dict[str, Any]:
        return {
            **self.ids(),
            "started_at": iso(self.started_at),
            "end_reason": self.end_reason,
            "entries": self.entries(),
        }
