"""The dead-letter list (DESIGN §6): a capped Redis list of what config-sync could not use, newest first."""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
import uuid
from dataclasses import asdict, dataclass, field, replace

import redis.asyncio as aioredis
from pydantic import ConfigDict, TypeAdapter, ValidationError

from config_sync_service.core.logging import get_logger, scrub

log = get_logger("config_sync.dead_letter")
MAX_RAW_CHARS = 4096  # a 1 MiB junk payload is kept as its head, with its size
MAX_FIELD_CHARS = 200  # a version or change type that was no such thing, as text
REPLAY_TTL_S = 3600  # a registered replay request not spent by then forces nothing
# every worker of every replica hears each published payload; copies of one are one dead letter in this window
ONCE_TTL_S = 300
# the marker and the entry go in together, or neither does (no copy is dropped for an entry never written)
_PUSH_ONCE = """
if redis.call('SET', KEYS[2], ARGV[3], 'NX', 'EX', ARGV[4]) then
  redis.call('LPUSH', KEYS[1], ARGV[1])
  redis.call('LTRIM', KEYS[1], 0, tonumber(ARGV[2]) - 1)
  return 1
end
return 0
"""


def writer_id() -> str:
    """Which process wrote an entry: `host:pid`."""
    return f"{socket.gethostname()}:{os.getpid()}"


def _version(value: object) -> int | str | None:
    """A version as an entry keeps it: an integer, or what the payload held, as text (a bool is not a version)."""
    if value is None or (isinstance(value, int) and not isinstance(value, bool)):
        return value
    return str(value)[:MAX_FIELD_CHARS]


@dataclass(slots=True)
class DeadLetterEntry:
    """One dead letter. `reason` is a stable code (`not_json`, `unknown_agent`, `permanent_error`, …)."""

    reason: str
    error_class: str
    error_message: str
    raw: str | None = None
    raw_size: int | None = None
    agent_id: str | None = None
    version: int | str | None = None
    change_type: str | None = None
    attempts: int = 1
    first_failure_at: float = field(default_factory=time.time)
    last_failure_at: float = field(default_factory=time.time)
    dead_at: float = field(default_factory=time.time)
    writer: str = field(default_factory=writer_id)
    replay_count: int = 0
    id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @classmethod
    def build(
        cls,
        raw: bytes | str | None,
        *,
        reason: str,
        error_class: str,
        error_message: str,
        agent_id: str | None = None,
        version: object = None,
        change_type: object = None,
        attempts: int = 1,
        replay_count: int = 0,
    ) -> DeadLetterEntry:
        """The one builder of entries: the payload kept as its head (`MAX_RAW_CHARS`, decoded leniently) and its
        byte size; the version and change type as whatever could be read of them, coerced one way."""
        text, size = None, None
        if raw is not None:
            data = raw.encode("utf-8", "surrogatepass") if isinstance(raw, str) else raw
            text, size = data[:MAX_RAW_CHARS].decode("utf-8", "backslashreplace"), len(data)
        return cls(
            reason=reason,
            error_class=error_class,
            error_message=error_message,
            raw=text,
            raw_size=size,
            agent_id=agent_id,
            version=_version(version),
            change_type=change_type[:MAX_FIELD_CHARS] if isinstance(change_type, str) else None,
            attempts=attempts,
            replay_count=replay_count,
        )

    def to_json(self) -> str:
        payload = asdict(self)
        payload["error_message"] = scrub(self.error_message)
        return json.dumps(payload, default=str)

    @classmethod
    def from_json(cls, text: str | bytes) -> DeadLetterEntry:
        """The entry a stored item holds; ValueError if it holds none: not a JSON object, `id` or `dead_at` missing,
        a field of the wrong type (a text `dead_at`, a numeric `id`, a `replay_count` that is no integer, NaN)."""
        data = json.loads(text)
        if not isinstance(data, dict) or not data.keys() >= _REQUIRED_WHEN_READ:
            raise ValueError("not an entry: a JSON object with an id and a dead_at is needed")
        return _STORED.validate_json(text)

    @classmethod
    def from_stored(cls, text: str) -> DeadLetterEntry:
        """`from_json`, or for an item that holds no entry (someone else pushed it, or it was changed by hand), an
        `unreadable_entry` describing it, with a warning. Reading never raises."""
        try:
            return cls.from_json(text)
        except (ValueError, RecursionError) as exc:  # pydantic's ValidationError is a ValueError
            described = cls.build(
                text,
                reason="unreadable_entry",
                error_class=type(exc).__name__,
                error_message="the list holds an item that is not a dead-letter entry",
            )
            entry = replace(
                described, id=hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32], dead_at=0.0
            )
            log.warning("dlq.unreadable_entry", entry_id=entry.id, error=_why(exc))
            return entry


# a foreign item is read strictly: a field of the wrong type makes it unreadable, never a crash later on
DeadLetterEntry.__pydantic_config__ = ConfigDict(strict=True, allow_inf_nan=False)  # type: ignore[attr-defined]
_STORED: TypeAdapter[DeadLetterEntry] = TypeAdapter(DeadLetterEntry)
_REQUIRED_WHEN_READ = frozenset({"id", "dead_at"})


def _why(exc: Exception) -> str:
    """What was wrong with an item, without its values (the field and the rule, or the JSON error)."""
    if isinstance(exc, ValidationError):
        first = exc.errors()[0]
        return f"{'.'.join(str(p) for p in first['loc']) or 'item'}: {first['type']}"
    return f"{type(exc).__name__}: {str(exc)[:100]}"


class DeadLetterQueue:
    """`LPUSH` + `LTRIM` to `max_len`; index 0 is the newest entry."""

    def __init__(self, redis: aioredis.Redis, *, key: str, max_len: int) -> None:
        self.redis = redis
        self.key = key
        self.max_len = max_len
        self._push_once = redis.register_script(_PUSH_ONCE)

    async def push(self, entry: DeadLetterEntry, *, once: bytes | None = None) -> bool:
        """Add the entry; with `once` (the payload as published), only if no copy of that payload was
        dead-lettered with the same reason in the last `ONCE_TTL_S`. False: another process already did."""
        if once is None:
            async with self.redis.pipeline(transaction=True) as pipe:
                pipe.lpush(self.key, entry.to_json())
                pipe.ltrim(self.key, 0, self.max_len - 1)
                await pipe.execute()
        else:
            digest = hashlib.sha256(entry.reason.encode() + b"\0" + once).hexdigest()[:32]
            marker = f"{{{self.key}}}:once:{digest}"  # hash tag: the list's slot, should Redis be a cluster
            args: list[str | int] = [entry.to_json(), self.max_len, entry.writer, ONCE_TTL_S]
            if not await self._push_once(keys=[self.key, marker], args=args):
                log.debug("dlq.copy_skipped", reason=entry.reason, agent_id=entry.agent_id)
                return False
        log.info(
            "dlq.dead_lettered",
            entry_id=entry.id,
            reason=entry.reason,
            agent_id=entry.agent_id,
            version=entry.version,
            change_type=entry.change_type,
            error_class=entry.error_class,
            replay_count=entry.replay_count,
        )
        return True

    async def depth(self) -> int:
        return int(await self.redis.llen(self.key))

    async def entries(self, start: int = 0, stop: int = -1) -> list[DeadLetterEntry]:
        """Entries from index `start` to `stop` inclusive (newest first), read at once."""
        return [entry for _, entry in await self._read(start, stop)]

    async def snapshot(self) -> list[tuple[str, DeadLetterEntry]]:
        """Every entry with its stored text (newest first), read at once: what replay and purge walk."""
        return await self._read(0, -1)

    async def _read(self, start: int, stop: int) -> list[tuple[str, DeadLetterEntry]]:
        items = await self.redis.lrange(self.key, start, stop)
        texts = [i.decode("utf-8", "surrogateescape") if isinstance(i, bytes) else str(i) for i in items]
        return [(text, DeadLetterEntry.from_stored(text)) for text in texts]

    async def remove_stored(self, texts: list[str], *, batch: int = 500) -> int:
        """Remove entries by their stored text (one `LREM` each, pipelined); entries pushed meanwhile stay."""
        removed = 0
        for start in range(0, len(texts), batch):
            async with self.redis.pipeline(transaction=False) as pipe:
                for text in texts[start : start + batch]:
                    # the exact bytes, so that a foreign item that is not UTF-8 can be removed too
                    pipe.lrem(self.key, 1, text.encode("utf-8", "surrogateescape"))  # type: ignore[arg-type]
                removed += sum(int(n) for n in await pipe.execute())
        return removed

    # --- replay requests: registered by the operator tooling, spent by the one worker that forces the re-run ----
    def _replay_key(self, replay_id: str) -> str:
        return f"{self.key}:replay:{replay_id}"

    async def register_replay(self) -> str:
        """A fresh replay id, registered for `REPLAY_TTL_S`: only a registered, unspent id forces a re-run."""
        replay_id = uuid.uuid4().hex
        await self.redis.set(self._replay_key(replay_id), writer_id(), nx=True, ex=REPLAY_TTL_S)
        return replay_id

    async def replay_registered(self, replay_id: str) -> bool:
        """Whether the tooling registered this id and nobody spent it yet (False if Redis cannot say)."""
        try:
            return bool(await self.redis.exists(self._replay_key(replay_id)))
        except Exception as exc:
            log.warning("dlq.replay_check_failed", replay_id=replay_id, error=type(exc).__name__)
            return False

    async def spend_replay(self, replay_id: str) -> bool:
        """True for the one process that spends a registered replay id (every worker received the request).

        An unregistered or spent id is False, and so is an id Redis cannot answer for: forcing is an operator's
        privilege, so in doubt the message is a plain hint (the agent's entry was replayed; replay it again).
        """
        try:
            return bool(await self.redis.delete(self._replay_key(replay_id)))
        except Exception as exc:
            log.warning("dlq.replay_spend_failed", replay_id=replay_id, error=type(exc).__name__)
            return False
