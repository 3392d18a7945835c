"""Both sides of a call as a WAV file, written to disk as the call goes so a long call never sits in memory.

pipecat's `AudioBufferProcessor`, placed after the output transport, sees the caller's audio and the agent's as
played; it hands over a stereo chunk (caller left, agent right, silence where nobody spoke) every few seconds
and at the end, and each chunk is appended to the file.
"""

from __future__ import annotations

import os
import tempfile
import wave
from pathlib import Path
from typing import Any

from loguru import logger
from pipecat.processors.audio.audio_buffer_processor import AudioBufferProcessor

CHUNK_S = 5  # seconds of audio held in memory before they are written
SAMPLE_WIDTH = 2  # 16-bit PCM
CHANNELS = 2  # caller left, agent right


class CallRecording:
    def __init__(self, sample_rate: int, directory: str | None = None) -> None:
        self.sample_rate = sample_rate
        self.processor = AudioBufferProcessor(
            sample_rate=sample_rate,
            num_channels=CHANNELS,
            buffer_size=sample_rate * SAMPLE_WIDTH * CHUNK_S,
            auto_start_recording=True,
        )
        fd, name = tempfile.mkstemp(prefix="call-", suffix=".wav", dir=directory)
        os.close(fd)
        self.path = Path(name)
        self.error: str | None = None
        self._wav: wave.Wave_write | None = None
        self._frames = 0
        self._closed = False
        # a plain function: pipecat runs each chunk's handler as a task, and one that never awaits runs to the end
        # before the next chunk's starts, so chunks are written in order
        self.processor.add_event_handler("on_audio_data", self._write)

    def _write(self, _processor: Any, audio: bytes, sample_rate: int, num_channels: int) -> None:
        if self.error is not None or self._closed:  # a chunk after the end (a pipeline cut short) is dropped
            return
        try:
            if self._wav is None:
                self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 (open for the whole call)
                self._wav.setnchannels(num_channels)
                self._wav.setsampwidth(SAMPLE_WIDTH)
                self._wav.setframerate(sample_rate)
            self._wav.writeframes(audio)
            self._frames += len(audio) // (SAMPLE_WIDTH * num_channels)
        except OSError as exc:  # a full disk loses the recording, never the call
            self.error = f"{type(exc).__name__} writing the recording"
            logger.error(f"call recording stopped: {self.error}")

    def finish(self) -> Path | None:
        """Close the file once the pipeline has ended (its handlers have run); the WAV, or None without audio."""
        self._closed = True
        if self._wav is not None:
            try:
                self._wav.close()
            except OSError as exc:  # the header could not be written: the file is not a WAV to keep
                self.error = f"{type(exc).__name__} closing the recording"
        return self.path if self._frames and self.error is None else None

    @property
    def duration_s(self) -> float:
        return self._frames / self.sample_rate

    def discard(self) -> None:
        self.path.unlink(missing_ok=True)
