"""Knowing when the agent's next words have been played to the caller: a goodbye before the call ends, a
voicemail's announcement before the recording starts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from pipecat.frames.frames import Frame, LLMFullResponseEndFrame, LLMFullResponseStartFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

START_TIMEOUT_S = 5.0  # no words started by then (they were said before the tool call): go on anyway
PLAY_TIMEOUT_S = 30.0


class _ResponseTap(FrameProcessor):
    """Passes every frame on; reports assistant response start/end frames to `seen`."""

    def __init__(self, name: str, seen: Callable[[Frame], None]) -> None:
        super().__init__(name=name)
        self._seen = seen

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, LLMFullResponseStartFrame | LLMFullResponseEndFrame):
            self._seen(frame)
        await self.push_frame(frame, direction)


class SpeechWatch:
    """Knows when the assistant's next turn has been played to the caller.

    Two taps: one right after Nova Sonic picks the first response it starts after `arm()` (spoken once the tool
    result or the instruction is in); one after the output transport, which passes frames on only once the audio
    before them was sent, sees that response end. Frames keep their identity through the pipeline, so a turn that
    began before `arm()` and is still playing cannot be mistaken for the one awaited.
    """

    def __init__(self) -> None:
        self.emitted = _ResponseTap("speech-emitted", self._on_emitted)
        self.played = _ResponseTap("speech-played", self._on_played)
        self._armed = False
        self._awaited: int | None = None
        self._playing = False
        self._started = asyncio.Event()
        self._done = asyncio.Event()

    def arm(self) -> None:
        self._armed, self._awaited, self._playing = True, None, False
        self._started.clear()
        self._done.clear()

    def _on_emitted(self, frame: Frame) -> None:
        if self._armed and self._awaited is None and isinstance(frame, LLMFullResponseStartFrame):
            self._awaited = frame.id
            self._started.set()

    def _on_played(self, frame: Frame) -> None:
        if isinstance(frame, LLMFullResponseStartFrame) and frame.id == self._awaited:
            self._playing = True
        elif isinstance(frame, LLMFullResponseEndFrame) and self._playing:
            self._done.set()

    async def played_out(self) -> bool:
        """True once the awaited words have been played; False when they never started or took too long."""
        try:
            await asyncio.wait_for(self._started.wait(), START_TIMEOUT_S)
            await asyncio.wait_for(self._done.wait(), PLAY_TIMEOUT_S)
            return True
        except TimeoutError:
            return False
        finally:
            self._armed = False
