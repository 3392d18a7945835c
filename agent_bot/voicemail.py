"""A voicemail: the agent tells the caller they may leave a message, the caller is recorded (the agent muted)
until they fall silent or the time limit comes, the agent thanks them, and the call ends. The message, its audio
and the caller's words (Nova Sonic transcribes them as usual), is stored like a call record and announced with
`voicemail.left` (`reporting.py`)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Literal

import numpy as np
from pipecat.frames.frames import Frame, InputAudioRawFrame, OutputAudioRawFrame, TextFrame
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor

from agent_bot import logs
from agent_bot.ending import Ending
from agent_bot.guardrails import NOTICE
from agent_bot.llm import AgentNovaSonic
from agent_bot.recording import WavFile
from agent_bot.records import VOICEMAIL, CallRecord, iso, now
from agent_bot.speech import SpeechWatch
from agent_schema import VoicemailConfig

Trigger = Literal["caller_request", "transfer_failed", "transfer_unanswered"]
VOICE_RMS = 500  # 16-bit RMS above which the caller is taken to be speaking (a phone line's hiss is far below)
POLL_S = 0.05
ANNOUNCE = "Tell the caller in one short sentence to leave their message now, then stay silent while they speak."
TRANSFER_FAILED = (
    NOTICE + "The transfer did not go through. Tell the caller nobody can take the call right now. " + ANNOUNCE
)
UNANSWERED = NOTICE + "Nobody answered the transfer. Tell the caller nobody can take the call right now. " + ANNOUNCE
THANKS = NOTICE + "The caller's message has been recorded. Thank them in one sentence and say goodbye."


@dataclass
class Message:
    """One voicemail: why it was taken, when, how it ended, and its audio."""

    trigger: Trigger
    started_at: datetime
    audio: WavFile
    ended_at: datetime | None = None
    end: str | None = None  # silence, time_limit, caller_hung_up (the line closed), call_ended
    words: list[dict[str, str]] = field(default_factory=list)  # the caller's transcript, piece by piece

    @property
    def text(self) -> str:
        return " ".join(w["text"] for w in self.words)

    def close(self, end: str) -> Path | None:
        if self.end is None:
            self.end, self.ended_at = end, now()
        return self.audio.close()


class MessageTap(FrameProcessor):
    """Passes every frame on; while a message is recorded, writes the caller's audio (as the transport delivers
    it) to its file and notes when the caller was last heard."""

    def __init__(self) -> None:
        super().__init__(name="voicemail-tap")
        self.file: WavFile | None = None
        self.heard: float | None = None  # monotonic time the caller was last heard

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if self.file is not None and isinstance(frame, InputAudioRawFrame):
            self.file.write(frame.audio, frame.sample_rate, frame.num_channels)
            if _rms(frame.audio) > VOICE_RMS:
                self.heard = time.monotonic()
        await self.push_frame(frame, direction)


class MuteGate(FrameProcessor):
    """Passes every frame on, except the agent's speech (its audio and words) while `muted`: the model still
    hears the caller, and transcribes them, but says nothing over their message."""

    def __init__(self) -> None:
        super().__init__(name="voicemail-mute")
        self.muted = False

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if self.muted and direction == FrameDirection.DOWNSTREAM and isinstance(frame, OutputAudioRawFrame | TextFrame):
            return
        await self.push_frame(frame, direction)


class Voicemail:
    def __init__(
        self,
        config: VoicemailConfig | None,
        *,
        speech: SpeechWatch,
        ending: Ending,
        llm: AgentNovaSonic,
        record: CallRecord,
    ) -> None:
        self.config = config or VoicemailConfig()
        self.speech, self.ending, self.llm, self.record = speech, ending, llm, record
        self.tap = MessageTap()
        self.mute = MuteGate()
        self.message: Message | None = None

    async def take(self, trigger: Trigger, instruction: str | None = None) -> bool:
        """Take a message after the agent's next words (`instruction` says what they are; None: a tool's result
        does, sent after this). False, and nothing done, when the call is already ending or has a message."""
        if self.message is not None or self.ending.started or self.ending.held:
            return False
        self.ending.held = True  # from the announcement on, nothing but this ends the call
        self.speech.arm()
        if instruction:
            await self.llm.say(instruction)
        self.llm.create_task(self._record(trigger), name="voicemail")
        return True

    async def _record(self, trigger: Trigger) -> None:
        await self.speech.played_out()
        self.mute.muted = True
        message = self.message = Message(trigger, now(), WavFile("voicemail-"))
        # the caller's words from here to the end of the call are the message's (they arrive after the audio)
        self.llm.on_caller_words = lambda text: message.words.append({"at": iso(now()), "text": text.strip()})
        self.record.end(VOICEMAIL)  # from here the call has a message, whatever happens next
        self.record.event("voicemail", trigger=trigger, status="recording")
        self.tap.heard, self.tap.file = None, message.audio
        end = await self._until_done(message, time.monotonic())
        self.stop(end)
        if end == "caller_hung_up":
            return
        self.mute.muted = False
        self.ending.held = False
        await self.ending.after_words(VOICEMAIL, THANKS)

    async def _until_done(self, message: Message, started: float) -> str:
        """Wait until the caller has been silent for `silence_s` after speaking (twice that before they start):
        `silence`; until `max_length_s`: `time_limit`; or until the caller has hung up."""
        config = self.config
        while message.end is None:
            await asyncio.sleep(POLL_S)
            moment = time.monotonic()
            if moment - started >= config.max_length_s:
                return "time_limit"
            heard = self.tap.heard
            if moment - (heard or started) >= config.silence_s * (1 if heard else 2):
                return "silence"
        return message.end

    def stop(self, end: str) -> None:
        """The message is over (`silence`, `time_limit`, `caller_hung_up`, `call_ended`): its file closed, once."""
        self.tap.file = None
        message = self.message
        if message is None or message.end is not None:
            return
        message.close(end)
        duration = round(message.audio.duration_s, 3)
        self.record.event("voicemail", trigger=message.trigger, status="recorded", end=end, duration_s=duration)
        logs.call_event(
            logs.CALL_VOICEMAIL, f"voicemail recorded ({end}, {duration:g} s)", self.record.ids(),
            trigger=message.trigger, end=end, duration_s=duration,
        )  # fmt: skip

    def finish(self) -> Message | None:
        """After the pipeline: the message, closed (the call ended while it was recorded, if it still was)."""
        self.stop("call_ended")
        return self.message


def _rms(audio: bytes) -> float:
    samples = np.frombuffer(audio[: len(audio) // 2 * 2], dtype=np.int16).astype(np.float32)
    return float(np.sqrt(np.mean(samples * samples))) if samples.size else 0.0
