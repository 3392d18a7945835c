"""Twilio call control: only a real call sid reaches Twilio's REST API, at exactly its own path."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import Request

from agent_bot import callctl
from agent_bot.callctl import TwilioCallControl
from tests.agent_bot.support import ACCOUNT_SID, CALL_SID, TwilioStandIn, serve, twilio_rest


async def test_hangup_posts_to_the_calls_own_resource() -> None:
    rest_app, updates = twilio_rest()
    async with serve(rest_app) as rest:
        control = TwilioCallControl(account_sid=ACCOUNT_SID, auth_token="twilio-token", base_url=f"http://{rest}")
        await control.hangup(CALL_SID)
    assert [(u["account"], u["call"], u["Status"]) for u in updates] == [(ACCOUNT_SID, CALL_SID, "completed")]


@pytest.mark.parametrize(
    "call_sid",
    [
        "../../AC00000000000000000000000000000666/Calls/CA00000000000000000000000000000001",  # another account
        "CA00000000000000000000000000000001/../CA00000000000000000000000000000002",
        "CA00000000000000000000000000000001?x=1",
        "CA0000000000000000000000000000000",  # 31 hex digits
        "",
    ],
)
async def test_a_call_sid_of_any_other_form_never_reaches_twilio(call_sid: str) -> None:
    rest_app, updates = twilio_rest()
    async with serve(rest_app) as rest:
        control = TwilioCallControl(account_sid=ACCOUNT_SID, auth_token="twilio-token", base_url=f"http://{rest}")
        with pytest.raises(ValueError, match="not a Twilio call sid"):
            await control.hangup(call_sid)
        with pytest.raises(ValueError, match="not a Twilio call sid"):
            await control.transfer(call_sid, "+15555550100")
    assert updates == []  # nothing was sent with the account's credentials


@pytest.mark.parametrize(
    ("legs", "outcome"),
    [
        (["no-answer"], "no-answer"),
        (["busy"], "busy"),
        (["no-answer", "completed"], "completed"),  # one leg answered: the transfer was taken
        ([], "failed"),  # the dial made no leg at all
    ],
)
async def test_the_outcome_of_a_dial_is_its_legs_status(legs: list[str], outcome: str) -> None:
    stand_in = TwilioStandIn(legs={CALL_SID: legs})
    async with serve(stand_in.app()) as rest:
        control = TwilioCallControl(account_sid=ACCOUNT_SID, auth_token="twilio-token", base_url=f"http://{rest}")
        assert await control.dial_outcome(CALL_SID) == outcome
        with pytest.raises(ValueError, match="not a Twilio call sid"):
            await control.dial_outcome("CA1?ParentCallSid=x")


@pytest.mark.parametrize(
    ("answers", "wait_s", "outcome"),
    [
        ([["ringing"], ["ringing"], ["no-answer"]], 5.0, "no-answer"),  # Twilio's records caught up
        ([["ringing"], ["completed"]], 5.0, "completed"),
        ([["ringing"]], 1.0, "no-answer"),  # still ringing when the wait is over: taken as unanswered
    ],
    ids=["ringing-then-no-answer", "ringing-then-completed", "ringing-past-the-wait"],
)
async def test_a_leg_still_ringing_is_asked_about_again(
    answers: list[list[str]], wait_s: float, outcome: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(callctl, "DIAL_OUTCOME_WAIT_S", wait_s)
    stand_in = TwilioStandIn(legs={CALL_SID: answers[0]})
    asked: list[list[str]] = []
    app = stand_in.app()

    @app.middleware("http")
    async def next_answer(request: Request, call_next: Any) -> Any:
        """Each time the legs are listed, the next answer is the one after (the last one stays)."""
        response = await call_next(request)
        if request.url.path.endswith("/Calls.json"):
            asked.append(stand_in.legs[CALL_SID])
            stand_in.legs[CALL_SID] = answers[min(len(asked), len(answers) - 1)]
        return response

    async with serve(app) as rest:
        control = TwilioCallControl(account_sid=ACCOUNT_SID, auth_token="twilio-token", base_url=f"http://{rest}")
        assert await control.dial_outcome(CALL_SID) == outcome
    assert len(asked) > 1 and asked[0] == ["ringing"]  # asked again after the first "ringing"
    if len(answers) > 1:
        assert asked == answers  # and no more once the leg had ended
