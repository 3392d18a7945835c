"""What the bot tells the world about a call: the call events in its logs, the records in object storage, the
webhooks. It starts when the session does and finishes after the call has ended (pipeline over, line hung up),
so nothing here ever waits on the audio; what it cannot do in its bounds it reports and gives up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from loguru import logger

from agent_bot import logs
from agent_bot.recording import CallRecording
from agent_bot.records import CallRecord, iso
from agent_bot.storage import CALLS, VOICEMAILS, Item, RecordStore, StoragePolicy, StorageUnavailable
from agent_bot.webhooks import WebhookPolicy, WebhookSender
from agent_schema import LLMContextConfig

if TYPE_CHECKING:
    from agent_bot.voicemail import Message

TRANSCRIPT, RECORDING, METADATA = "transcript.json", "recording.wav", "metadata.json"


@dataclass(frozen=True)
class DeliveryPolicy:
    """The bounds of everything after a call (tests shorten them)."""

    storage: StoragePolicy = field(default_factory=StoragePolicy)
    webhooks: WebhookPolicy = field(default_factory=WebhookPolicy)


class CallReporter:
    def __init__(
        self, record: CallRecord, context: LLMContextConfig, environ: Mapping[str, str], policy: DeliveryPolicy
    ) -> None:
        self.record = record
        records = context.call_records if context.call_records and context.call_records.enabled else None
        self.keep_caller_number = bool(records and records.keep_caller_number)
        self.store: RecordStore | None = None
        self.store_error: str | None = None
        if records is not None:
            try:
                self.store = RecordStore.from_env(records, environ, policy.storage)
            except StorageUnavailable as exc:
                self.store_error = str(exc)
                logger.bind(**record.ids()).error(f"call records configured but not stored: {exc}")
        self.wants_recording = bool(records and records.recording and self.store)
        self.webhooks = WebhookSender.from_config(context.webhooks, environ, policy.webhooks, record.ids())

    def started(self) -> None:
        record = self.record
        caller = record.caller(keep=False)  # logs always mask it
        logs.call_event(logs.CALL_STARTED, f"call started on {record.transport}", record.ids(), caller_number=caller)
        if self.webhooks:
            self.webhooks.send("call.started", self._started_data())

    def callback_requested(self, data: Mapping[str, Any]) -> None:
        """A callback was scheduled: the `callback.requested` webhook, at once."""
        logs.call_event(logs.CALL_CALLBACK, "callback requested", self.record.ids(), at=data.get("at"))
        if self.webhooks:
            self.webhooks.send("callback.requested", {**self.record.ids(), **data})

    async def finished(self, recording: CallRecording | None, message: Message | None = None) -> None:
        """After the call: the `call.ended` event, the voicemail and the records stored, the webhooks delivered;
        never raises."""
        record = self.record
        record.finish()
        logs.call_event(
            logs.CALL_ENDED, f"call ended ({record.end_reason}) after {record.duration_s:g} s", record.ids(),
            duration_s=record.duration_s, end_reason=record.end_reason, tools_used=record.tools_used(),
        )  # fmt: skip
        voicemail = await self._voicemail(message) if message else None
        wav = recording.finish() if recording else None
        try:
            objects = await self._store(record.folder, self._documents(), wav)
        finally:
            if recording:
                recording.discard()
        if recording is not None and wav is None:
            objects[RECORDING] = _skipped(recording.error or "no audio")
        metadata = record.metadata(keep_caller_number=self.keep_caller_number)
        if self.webhooks:
            if voicemail is not None:
                self.webhooks.send("voicemail.left", voicemail)
            self.webhooks.send("call.ended", {**metadata, "records": objects})
            transcript = objects.get(TRANSCRIPT)
            self.webhooks.send("transcript.ready", {**record.transcript(), "record": transcript})
        deliveries = await self.webhooks.close() if self.webhooks else []
        logs.call_event(
            logs.CALL_REPORTED, "call reported", record.ids(),
            records={name: o["status"] for name, o in objects.items()},
            webhooks_delivered=sum(d.delivered for d in deliveries),
            webhooks_failed=sum(not d.delivered for d in deliveries),
        )  # fmt: skip

    def _documents(self) -> tuple[dict[str, Any], dict[str, Any]]:
        record = self.record
        return record.transcript(), record.metadata(keep_caller_number=self.keep_caller_number)

    async def _voicemail(self, message: Message) -> dict[str, Any]:
        """Store a voicemail like a call record (under `voicemails/`); the `voicemail.left` webhook's data."""
        record = self.record
        wav = message.close("call_ended")
        about = {
            **record.ids(),
            "caller_number": record.caller(keep=self.keep_caller_number),
            "trigger": message.trigger,
            "started_at": iso(message.started_at),
            "ended_at": iso(message.ended_at or message.started_at),
            "duration_s": round(message.audio.duration_s, 3),
            "end": message.end,
        }
        transcript = {**about, "text": message.text, "words": message.words}
        try:  # one message per call at most: under the call's id
            objects = await self._store(record.call_id, (transcript, about), wav, VOICEMAILS)
        finally:
            message.audio.discard()
        if wav is None:
            objects[RECORDING] = _skipped(message.audio.error or "no audio")
        return {**transcript, "records": objects}

    async def _store(
        self,
        folder: str,
        documents: tuple[dict[str, Any], dict[str, Any]],
        wav: Path | None,
        collection: str = CALLS,
    ) -> dict[str, dict[str, Any]]:
        """A transcript, a WAV (if any) and metadata under `folder`; each object's key and upload status
        (`stored`, `failed`, or `skipped` with why)."""
        if self.store is None:
            why = self.store_error or "no call_records in the configuration"
            return {TRANSCRIPT: _skipped(why), METADATA: _skipped(why)}
        transcript, metadata = documents
        first = [Item(TRANSCRIPT, _json(transcript), "application/json")]
        if wav is not None:
            first.append(Item(RECORDING, wav, "audio/wav"))
        last = [Item(METADATA, _json(metadata), "application/json")]
        # metadata.json last: once it is there, so is everything else that was stored
        record = self.record
        stored = await self.store.put_all(record.agent_id, folder, [first, last], record.ids(), collection)
        return {o.name: o.document() for o in stored}

    def _started_data(self) -> dict[str, Any]:
        record = self.record
        return {
            **record.ids(),
            "caller_number": record.caller(keep=self.keep_caller_number),
            "started_at": iso(record.started_at),
        }


def _json(document: Mapping[str, Any]) -> bytes:
    return json.dumps(document, ensure_ascii=False, indent=2, default=str).encode()


def _skipped(why: str) -> dict[str, Any]:
    return {"key": None, "status": "skipped", "bytes": None, "error": why}
