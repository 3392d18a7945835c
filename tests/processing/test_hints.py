"""The rules for merging the hints of a queued agent (the queue holds each agent once)."""

from __future__ import annotations

import uuid

from config_sync_service.processing.hints import Hint, PendingHints
from config_sync_service.schemas.messages import ChangeMessage, ChangeType

AGENT = uuid.uuid4()


def message(version: int, **replay: object) -> Hint:
    change = ChangeMessage.model_validate(
        {"agent_id": AGENT, "version": version, "change_type": ChangeType.FULL_SYNC} | replay
    )
    return Hint.of(change, change.to_json().encode())


def test_the_newest_hint_wins() -> None:
    hints = PendingHints()
    hints.add(AGENT, message(1))
    hints.add(AGENT, message(2))
    taken = hints.take(AGENT)
    assert taken.message is not None and taken.message.version == 2 and not taken.force
    assert hints.take(AGENT) == Hint() and len(hints) == 0  # the sweep's and the retries' agents come without one


def test_a_waiting_replay_stays_a_replay_when_a_plain_message_joins_it() -> None:
    hints = PendingHints()
    hints.add(AGENT, message(1, replay=True, replay_count=2, replay_id="r-1"))
    hints.add(AGENT, message(2))
    taken = hints.take(AGENT)
    assert taken.message is not None and taken.message.version == 2
    assert (taken.force, taken.replay_count, taken.replay_id) == (True, 2, "r-1")


def test_a_retried_replay_keeps_its_count_not_its_force() -> None:
    hints = PendingHints()
    replayed = message(1, replay=True, replay_count=3, replay_id="r-2")
    hints.keep_for_retry(AGENT, replayed)
    kept = hints.take(AGENT)
    assert (kept.force, kept.replay_count, kept.replay_id) == (False, 3, None)
    hints.keep_for_retry(AGENT, message(1))  # a plain message leaves nothing to keep
    assert len(hints) == 0


def test_a_crashed_pass_puts_its_hint_back_unless_a_newer_one_arrived() -> None:
    hints = PendingHints()
    hints.put_back(AGENT, message(1))
    assert hints.take(AGENT).message is not None
    hints.add(AGENT, message(2))
    hints.put_back(AGENT, message(1))
    newest = hints.take(AGENT).message
    assert newest is not None and newest.version == 2
    hints.put_back(AGENT, Hint())
    assert len(hints) == 0
