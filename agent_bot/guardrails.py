"""The limits the bot enforces on a call whatever the model does: the session's cap (a spoken wrap-up before it,
then an end before the platform's cut), the conversation's length in caller turns, and inappropriate callers (the
configuration's patterns and the `flag_inappropriate` tool: a warning for each of `max_inappropriate_attempts`,
then the end). Each is recorded in the call's transcript and logged as a `call.guardrail` event."""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from agent_bot import logs
from agent_bot.ending import Ending
from agent_bot.llm import AgentNovaSonic
from agent_bot.records import CONVERSATION_LIMIT, INAPPROPRIATE, SESSION_LIMIT, CallRecord
from agent_schema import LLMContextConfig

Verdict = Literal["warned", "ending", "counted"]
NOTICE = "[A notice from the system, not words of the caller.] "
WRAP_UP_SESSION = (
    NOTICE + "This call has reached its time limit. Tell the caller politely that the call has to end now, thank "
    "them, and say goodbye. Keep it short."
)
WRAP_UP_CONVERSATION = (
    NOTICE + "This conversation has reached its length limit. Once you have answered, tell the caller politely "
    "that the call has to end now, thank them, and say goodbye. Keep it short."
)
WARNING = (
    NOTICE + "The caller's last words were inappropriate (warning {attempt} of {limit}). Tell them politely but "
    "firmly that this is not acceptable and that the call will end if it goes on; do not repeat their words."
)
END_INAPPROPRIATE = (
    NOTICE + "The caller has gone on being inappropriate after {limit} warnings. Tell them politely that you are "
    "ending the call because of it, and say goodbye. Do not repeat their words."
)
MAX_CHECKED_CHARS = 2_000  # of a caller's turn, against the patterns
TURN_WAIT_S = 1.5  # how long a flag waits for the transcript of the turn it is about


@dataclass(frozen=True)
class LimitTiming:
    """How the session's clock runs: `second_s` is how long one configured second lasts (tests shorten it);
    the call ends `end_margin_s` (configured) seconds before the platform's cut, its goodbye played or not, so
    that its records have time to go out; a wrap-up after the caller's turn waits `answer_wait_s` at most for the
    agent's answer to that turn."""

    second_s: float = 1.0
    end_margin_s: float = 15.0
    answer_wait_s: float = 8.0


class Guardrails:
    def __init__(
        self,
        *,
        context: Callable[[], LLMContextConfig],
        cap_s: int,
        timing: LimitTiming,
        ending: Ending,
        llm: AgentNovaSonic,
        record: CallRecord,
    ) -> None:
        self._context = context  # the current configuration: a context update may change the limits mid-call
        self.cap_s = cap_s
        self.timing = timing
        self.ending = ending
        self.llm = llm
        self.record = record
        self.started = time.monotonic()  # the session's start, which the platform's cap counts from
        self.turns = 0
        self.attempts = 0
        self._flagged: set[int] = set()  # the caller turns already counted as inappropriate
        self._answered = asyncio.Event()
        self._turn_seen = asyncio.Event()
        self._wrapping = False  # a wrap-up waits for the agent's answer: the caller's turns no longer count

    def wrap_up_at(self) -> float:
        """Seconds into the session when the wrap-up starts: `wrap_up_before_s` before the cap, not before half."""
        return max(self.cap_s - self._context().wrap_up_before_s, self.cap_s / 2)

    def end_at(self) -> float:
        """Seconds into the session when the call ends whatever is being said: before the cap, after the wrap-up."""
        return max(self.cap_s - self.timing.end_margin_s, (self.wrap_up_at() + self.cap_s) / 2)

    async def watch_the_clock(self) -> None:
        """For the whole session: the wrap-up before the cap, then the end before the platform's cut."""
        await self._sleep_until(self.wrap_up_at())
        if not self.ending.started and not self.ending.held:
            self._note(SESSION_LIMIT, "wrap_up", cap_s=self.cap_s)
            await self.ending.after_words(SESSION_LIMIT, WRAP_UP_SESSION)
        await self._sleep_until(self.end_at())
        if self.record.ended_at is None:  # else the call is over for the caller, and only tearing down
            self._note(SESSION_LIMIT, "ended_at_deadline", cap_s=self.cap_s)
            await self.ending.now(SESSION_LIMIT)

    async def _sleep_until(self, session_s: float) -> None:
        await asyncio.sleep(max(0.0, self.started + session_s * self.timing.second_s - time.monotonic()))

    async def user_turn(self, text: str) -> None:
        """A caller's turn, transcribed: counted, and checked against the patterns."""
        if self.ending.started or self.ending.held or self._wrapping:  # a goodbye or a voicemail: nothing counts
            return
        self.turns += 1
        self._turn_seen.set()
        self._answered.clear()
        context = self._context()
        if context.max_inappropriate_attempts and _matches(context.inappropriate_patterns, text):
            verdict = await self.inappropriate("pattern")
            if verdict == "warned":
                await self.llm.say(self.warning())
            elif verdict == "ending":
                self._after_answer(INAPPROPRIATE, self.last_words())
                return
        limit = context.max_conversation_length
        if limit and self.turns >= limit:
            self._note(CONVERSATION_LIMIT, "wrap_up", turns=self.turns, limit=limit)
            self._after_answer(CONVERSATION_LIMIT, WRAP_UP_CONVERSATION)

    def assistant_turn(self) -> None:
        """The agent has finished a turn (its answer to the caller's last, as a rule)."""
        self._answered.set()

    async def inappropriate(self, source: Literal["pattern", "agent"]) -> Verdict:
        """Count the caller's current turn as an inappropriate attempt (once, however it was found): `warned`
        while within `max_inappropriate_attempts`, then `ending`; `counted` for a turn already counted."""
        if source == "agent" and self.turns in self._flagged:  # the model may flag a turn before its transcript
            self._turn_seen.clear()  # has reached us: a moment for it
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._turn_seen.wait(), TURN_WAIT_S)
        if self.turns in self._flagged:
            return "counted"
        self._flagged.add(self.turns)
        self.attempts += 1
        limit = self._context().max_inappropriate_attempts or 0
        verdict: Verdict = "ending" if self.attempts > limit else "warned"
        self._note(INAPPROPRIATE, verdict, source=source, attempt=self.attempts, limit=limit)
        return verdict

    async def flagged_by_agent(self) -> dict[str, Any]:
        """`flag_inappropriate`: count the turn; the tool's result tells the agent what to say."""
        verdict = await self.inappropriate("agent")
        if verdict == "ending" and await self.ending.after_words(INAPPROPRIATE):
            return {"status": "ending", "instruction": self.last_words()}
        if verdict == "warned":
            return {"status": "warned", "attempt": self.attempts, "instruction": self.warning()}
        return {"status": "counted", "instruction": "This turn has been dealt with already; carry on."}

    def warning(self) -> str:
        return WARNING.format(attempt=self.attempts, limit=self._context().max_inappropriate_attempts)

    def last_words(self) -> str:
        return END_INAPPROPRIATE.format(limit=self._context().max_inappropriate_attempts)

    def _after_answer(self, reason: str, instruction: str) -> None:
        """Wrap up once the agent has answered the caller's turn (or has not, within a bound)."""

        async def wrap_up() -> None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._answered.wait(), self.timing.answer_wait_s)
            await self.ending.after_words(reason, instruction)

        self._wrapping = True
        self.llm.create_task(wrap_up(), name=f"wrap-up-{reason}")

    def _note(self, kind: str, action: str, **details: Any) -> None:
        self.record.event("guardrail", kind=kind, action=action, **details)
        logs.call_event(
            logs.CALL_GUARDRAIL, f"guardrail {kind}: {action}", self.record.ids(), kind=kind, action=action, **details
        )


def _matches(patterns: list[str], text: str) -> bool:
    words = text[:MAX_CHECKED_CHARS]
    return any(re.search(pattern, words, re.IGNORECASE) for pattern in patterns)
