"""Ending a call on the bot's initiative: once the agent's last words (a goodbye, a wrap-up) have been played, or
at once when a deadline comes first. Twilio calls are hung up after the pipeline (`AgentSession`)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from loguru import logger
from pipecat.frames.frames import EndWorkerFrame
from pipecat.processors.frame_processor import FrameDirection

from agent_bot.llm import AgentNovaSonic
from agent_bot.records import CallRecord
from agent_bot.speech import SpeechWatch


class Ending:
    def __init__(
        self,
        *,
        llm: AgentNovaSonic,
        speech: SpeechWatch,
        record: CallRecord,
        cancel: Callable[[], Awaitable[None]],
        session_id: str,
    ) -> None:
        self.llm = llm
        self.speech = speech
        self.record = record
        self._cancel = cancel
        self.session_id = session_id
        self.started = False  # the bot is ending the call (so it hangs up a Twilio call after the pipeline)
        self.held = False  # a voicemail is being recorded: nothing but the voicemail itself ends the call now

    async def after_words(self, reason: str, instruction: str | None = None) -> bool:
        """End the call once the agent's next words have been played (the session's clock ends it at its deadline
        in any case). `instruction` tells the agent what to say (None: a tool's result does, which the caller sends
        after this). False, and nothing done, when the call is already ending or a voicemail is being recorded."""
        if self.started or self.held:
            return False
        self.started = True
        self.record.end(reason)
        self.speech.arm()  # before the words are asked for: they may start at once
        if instruction:
            await self.llm.say(instruction)

        async def wait_then_end() -> None:
            if not await self.speech.played_out():
                logger.warning(f"session {self.session_id}: {reason} without a goodbye played; ending anyway")
            self.record.over()
            await self.llm.push_frame(EndWorkerFrame(reason=reason), FrameDirection.UPSTREAM)

        self.llm.create_task(wait_then_end(), name=f"end-{reason}")
        return True

    async def now(self, reason: str) -> None:
        """End at once, whatever is being said or recorded (the platform's cut is near)."""
        self.started = True
        self.record.over(reason)
        await self._cancel()
