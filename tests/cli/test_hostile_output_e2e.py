"""Text the CLI prints from untrusted data (published payloads, Pipecat's errors, entries changed by hand) never
reaches the terminal raw: ESC, BEL, CR, other C0 and C1 controls and bidi overrides are escaped visibly, and an
entry that is no entry is shown as unreadable instead of crashing the command (issue 19)."""

from __future__ import annotations

import asyncio
import json
import re
import uuid

import redis.asyncio as aioredis

from config_sync_service.cli.render import render_status
from config_sync_service.core.config import Settings
from config_sync_service.mq.dead_letter import DeadLetterEntry, DeadLetterQueue
from config_sync_service.processing import dead_letters
from config_sync_service.schemas.messages import Rejection, parse_message
from tests.cli.support import run_cli

# what a terminal would act on: C0 but newline, DEL, C1, bidi overrides and isolates, line/paragraph separators
RAW_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069\u2028\u2029]")
TITLE = "\x1b]0;pwned\x07"  # sets the terminal's title
CLEAR = "\x1b[2J\x1b[H"  # clears the screen
HOSTILE: list[str | bytes] = [
    # a valid JSON object whose fields carry controls: kept as the entry's agent id and change type
    json.dumps({"agent_id": f"{TITLE}agent", "version": 1, "change_type": f"{CLEAR}\r\x9b31mFULL_SYNC\u202e"}),
    # not JSON: the raw bytes, controls and all, are the entry's payload
    f"{{{CLEAR}\x07\x08\x7f not json\r\n".encode(),
]


def _rejected(raw: str | bytes) -> DeadLetterEntry:
    parsed = parse_message(raw)
    assert isinstance(parsed, Rejection)
    return dead_letters.rejected(raw if isinstance(raw, bytes) else raw.encode(), parsed)


async def test_dead_letters_from_hostile_payloads_print_escaped(
    daemon_settings: Settings, redis: aioredis.Redis
) -> None:
    dlq = DeadLetterQueue(redis, key=daemon_settings.dlq_key, max_len=10)
    for raw in HOSTILE:
        await dlq.push(_rejected(raw))
    wrong_types = {"reason": "x\x1b[31m", "error_class": "X", "error_message": "m", "id": 12345, "dead_at": "now"}
    await redis.lpush(daemon_settings.dlq_key, json.dumps(wrong_types))
    far_future = {"reason": "x", "error_class": "X", "error_message": "m", "id": uuid.uuid4().hex, "dead_at": 1e300}
    await redis.lpush(daemon_settings.dlq_key, json.dumps(far_future))

    commands = [
        ("dlq", "list"),
        *[("dlq", "show", str(index)) for index in range(4)],
        ("dlq", "replay", "--all", "--dry-run"),
    ]
    results = await asyncio.gather(*(run_cli(daemon_settings, *args) for args in commands))
    outputs = {}
    for args, result in zip(commands, results, strict=True):
        assert result.code == 0, (args, result.stderr)
        outputs[args] = result.stdout
        for stream in (result.stdout, result.stderr):
            assert not RAW_CONTROL.findall(stream), (args, RAW_CONTROL.findall(stream), stream)
    listed = outputs[("dlq", "list")]
    assert "unreadable_entry" in listed and "not_json" in listed and "invalid_agent_id" in listed
    shown = "".join(outputs[("dlq", "show", str(i))] for i in range(4))
    assert r"\x1b]0;pwned\x07agent" in shown  # visible, so an operator sees what was sent
    assert r"\x1b[2J\x1b[H\r\x9b31mFULL_SYNC\u202e" in shown
    assert r"\x07\x08\x7f not json\r\n" in shown
    assert "dead_at" in shown and "1e+300" in shown


def test_status_text_built_from_a_daemons_answer_is_escaped() -> None:
    """`config-sync status` renders what /status says, which carries agent names and Pipecat's error messages."""
    status = {
        "version": "1\x1b[8m",
        "owner": "host\x07",
        "agents_by_status": {"SYNCED\x1b[2J": 1},
        "counters": {"applied\r": 2},
        "last_error": {"at": 1.0, "agent_id": "a\x9b", "error_class": "E\u202e", "message": f"{TITLE} failed"},
        "out_of_sync": {
            "count": 1,
            "oldest": [
                {
                    "agent_id": "ff\x1b",
                    "name": f"{CLEAR}support",
                    "sync_status": "ERROR_SYNC\x07",
                    "for_s": 3,
                    "last_error_class": "PipecatValidationError",
                    "last_error": "400: \x1b[31mred\u2028next",
                }
            ],
        },
    }
    text = render_status(status, url="http://127.0.0.1:8000\x1b")
    assert not RAW_CONTROL.findall(text), RAW_CONTROL.findall(text)
    assert r"\x1b]0;pwned\x07 failed" in text and r"\x1b[2J\x1b[Hsupport" in text
