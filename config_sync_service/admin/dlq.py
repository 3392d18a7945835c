"""Dead-letter tooling for operators (DESIGN §6): list, show and purge (replay: admin/replay.py).
The CLI and the HTTP API share it."""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from config_sync_service.core.logging import get_logger, scrub
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue

log = get_logger("config_sync.admin.dlq")
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")
_UNIT_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_duration(text: str) -> float:
    """Seconds in `90`, `30s`, `15m`, `2h`, `7d`, `1h30m`; ValueError otherwise."""
    cleaned = text.strip().lower()
    if re.fullmatch(r"\d+(\.\d+)?", cleaned):
        return float(cleaned)
    parts = _DURATION.findall(cleaned)
    if not parts or _DURATION.sub("", cleaned).strip():
        raise ValueError(f"not a duration: {text!r} (use e.g. 90s, 15m, 2h, 7d)")
    return sum(float(n) * _UNIT_S[unit] for n, unit in parts)


@dataclass(frozen=True, slots=True)
class Filter:
    """Which entries: of one agent, with one reason, dead longer ago or more recently than some seconds."""

    agent_id: str | None = None
    reason: str | None = None
    older_than_s: float | None = None
    newer_than_s: float | None = None

    @property
    def empty(self) -> bool:
        return self == Filter()

    def matches(self, entry: DeadLetterEntry, now: float) -> bool:
        age = now - float(entry.dead_at or 0)
        return (
            (self.agent_id is None or str(entry.agent_id).lower() == self.agent_id.lower())
            and (self.reason is None or entry.reason == self.reason)
            and (self.older_than_s is None or age >= self.older_than_s)
            and (self.newer_than_s is None or age < self.newer_than_s)
        )


@dataclass(frozen=True, slots=True)
class Listed:
    """An entry and its index in the list (0 is the newest) at the time it was read."""

    index: int
    entry: DeadLetterEntry

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self.entry)
        data["error_message"] = scrub(self.entry.error_message)
        return {"index": self.index, **data}


@dataclass(frozen=True, slots=True)
class Page:
    total: int  # entries in the list
    matching: int  # entries the filter selects
    offset: int
    limit: int
    entries: list[Listed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "total": self.total,
            "matching": self.matching,
            "offset": self.offset,
            "limit": self.limit,
            "entries": [e.to_dict() for e in self.entries],
        }


async def list_entries(dlq: DeadLetterQueue, flt: Filter = Filter(), *, offset: int = 0, limit: int = 50) -> Page:
    """Entries newest first, filtered, one page of them."""
    offset, limit = max(0, offset), max(0, limit)
    if flt.empty:  # a page straight from Redis
        total = await dlq.depth()
        entries = await dlq.entries(offset, offset + limit - 1) if limit else []
        return Page(total, total, offset, limit, [Listed(offset + i, e) for i, e in enumerate(entries)])
    snapshot = await dlq.snapshot()
    now = time.time()
    matching = [Listed(i, e) for i, (_, e) in enumerate(snapshot) if flt.matches(e, now)]
    return Page(len(snapshot), len(matching), offset, limit, matching[offset : offset + limit])


async def show(dlq: DeadLetterQueue, ref: str) -> Listed | None:
    """One entry by index (`3`), by id, or by a unique prefix of at least 6 characters of its id."""
    ref = ref.strip()
    if ref.isascii() and ref.isdigit():  # `²` is a digit to str.isdigit, and no index
        at = await dlq.entries(int(ref), int(ref))
        return Listed(int(ref), at[0]) if at else None
    items = [Listed(index, entry) for index, (_, entry) in enumerate(await dlq.snapshot())]
    exact = [item for item in items if item.entry.id == ref]
    prefixed = [item for item in items if len(ref) >= 6 and item.entry.id.startswith(ref)]
    found = exact or prefixed
    return found[0] if len(found) == 1 else None


# --- purge -------------------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class PurgeReport:
    total: int
    matching: int
    purged: int

    def to_dict(self) -> dict[str, int]:
        return {"total": self.total, "matching": self.matching, "purged": self.purged}


async def count_matching(dlq: DeadLetterQueue, flt: Filter) -> tuple[int, int]:
    """(entries in the list, entries the filter selects)."""
    snapshot = await dlq.snapshot()
    now = time.time()
    return len(snapshot), sum(1 for _, e in snapshot if flt.matches(e, now))


async def purge(dlq: DeadLetterQueue, flt: Filter = Filter()) -> PurgeReport:
    """Remove the entries the filter selects from a snapshot; entries pushed meanwhile stay."""
    snapshot = await dlq.snapshot()
    now = time.time()
    texts = [text for text, e in snapshot if flt.matches(e, now)]
    purged = await dlq.remove_stored(texts)
    log.info(
        "dlq.purged",
        purged=purged,
        total=len(snapshot),
        agent_id=flt.agent_id,
        reason=flt.reason,
        older_than_s=flt.older_than_s,
    )
    return PurgeReport(len(snapshot), len(texts), purged)
