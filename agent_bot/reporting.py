"""What the bot tells the world about a call: the call events in its logs, the records in object storage, the
webhooks. It starts when the session does and finishes after the call has ended (pipeline over, line hung up),
so nothing here ever waits on the audio; what it cannot do in its bounds it reports and gives up.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from loguru import logger

from agent_bot import logs
from agent_bot.recording import CallRecording
from agent_bot.records import CallRecord, iso
from agent_bot.storage import Item, RecordStore, StoragePolicy, StorageUnavailable
from agent_bot.webhooks import WebhookPolicy, WebhookSender
from agent_schema import LLMContextConfig

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

    async def finished(self, recording: CallRecording | None) -> None:
        """After the call: the `call.ended` event, the records stored, the webhooks delivered; never raises."""
        record = self.record
        record.finish()
        logs.call_event(
            logs.CALL_ENDED, f"call ended ({record.end_reason}) after {record.duration_s:g} s", record.ids(),
            duration_s=record.duration_s, end_reason=record.end_reason, tools_used=record.tools_used(),
        )  # fmt: skip
        wav = recording.finish() if recording else None
        try:
            objects = await self._store(wav, recording)
        finally:
            if recording:
                recording.discard()
        metadata = record.metadata(keep_caller_number=self.keep_caller_number)
        if self.webhooks:
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

    async def _store(self, wav: Path | None, recording: CallRecording | None) -> dict[str, dict[str, Any]]:
        """Each object's key and upload status (`stored`, `failed`, or `skipped` with why)."""
        if self.store is None:
            why = self.store_error or "no call_records in the configuration"
            return {TRANSCRIPT: _skipped(why), METADATA: _skipped(why)}
        record = self.record
        first = [Item(TRANSCRIPT, _json(record.transcript()), "application/json")]
        if wav is not None:
            first.append(Item(RECORDING, wav, "audio/wav"))
        last = [Item(METADATA, _json(record.metadata(keep_caller_number=self.keep_caller_number)), "application/json")]
        # metadata.json last: once it is there, so is everything else of the call that was stored
        stored = await self.store.put_all(record.agent_id, record.call_id, [first, last], record.ids())
        objects = {o.name: o.document() for o in stored}
        if recording is not None and wav is None:
            objects[RECORDING] = _skipped(recording.error or "no audio")
        return objects

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
