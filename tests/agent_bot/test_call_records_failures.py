"""When storage or the webhook receiver is down, the call still ends cleanly and on time: the hang-up and the
closed stream come while the upload or the first webhook is still stuck; failed uploads are reported in
`call.ended`, and webhook retries stop at their bound."""

from __future__ import annotations

import asyncio
from collections import Counter

import websockets
from standardwebhooks import Webhook

from agent_bot.session import SESSIONS
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.records_support import (
    FAST,
    RECORDS_ENV,
    WHSEC,
    Receiver,
    a_phone_call,
    bot_deps,
    events,
    hanging_store,
    json_log,
    records_context,
    until_logged,
)
from tests.agent_bot.support import (
    agent_env,
    bot_app,
    serve,
    twilio_rest,
    twilio_start,
    twilio_stop,
    until,
    weather_api,
    weather_env,
)
from tests.helpers import free_port

ATTEMPTS = FAST.webhooks.attempts


async def test_storage_down_the_call_ends_on_time_and_call_ended_reports_the_failed_uploads() -> None:
    nova, receiver = FakeNovaSonic(), Receiver()
    rest_app, updates = twilio_rest()
    async with (
        hanging_store() as store,
        serve(rest_app) as rest,
        serve(weather_api()) as weather,
        serve(receiver.app()) as hooks,
    ):
        urls = {"TWILIO_API_BASE_URL": f"http://{rest}", **weather_env(weather)}
        env = agent_env(records_context(store.url, "calls", hooks), **urls, **RECORDS_ENV)
        with json_log() as log:
            async with a_phone_call(bot_deps(env, nova), nova):
                # the call is over for the caller (goodbye played, stream closed, line hung up) while the upload
                # is stuck in the store: nothing of the call waited for it
                await until(lambda: store.connections > 0)
                assert [u.get("Status") for u in updates] == ["completed"]
                assert "session-1" not in SESSIONS
                assert receiver.types() == ["call.started"] and not events(log, "call.record_failed")
                store.release.set()  # the store goes away: connections reset, then refused
                reported = await until_logged(log, "call.reported")

    assert reported["records"] == {"transcript.json": "failed", "recording.wav": "failed", "metadata.json": "failed"}
    failed = events(log, "call.record_failed")
    assert [(e["level"], e["error"] is not None) for e in failed] == [("ERROR", True)] * 3
    ended = receiver.hooks[1].json
    assert ended["type"] == "call.ended" and ended["data"]["end_reason"] == "agent_ended"
    for name in ("transcript.json", "recording.wav", "metadata.json"):
        status = ended["data"]["records"][name]
        assert status["status"] == "failed" and status["error"] and status["bytes"] is None, status
        assert status["key"] == f"voice/test/agents/agent-123/calls/{ended['data']['call_id']}/{name}"
    # the transcript still reaches the tenant, inline, with the failed upload said
    ready = receiver.hooks[2].json["data"]
    assert ready["record"]["status"] == "failed" and len(ready["entries"]) == 6
    assert not [line for line in events(log) if "Traceback" in str(line.get("exception", ""))]


async def test_webhook_receiver_down_the_call_ends_on_time_and_retries_stop_at_their_bound() -> None:
    nova, hold = FakeNovaSonic(), asyncio.Event()
    receiver = Receiver(status=503, hold=hold)
    rest_app, updates = twilio_rest()
    gone = f"127.0.0.1:{free_port()}"  # nothing listens there
    async with serve(rest_app) as rest, serve(weather_api()) as weather, serve(receiver.app()) as hooks:
        context = records_context("http://unused", "calls", hooks)
        del context["call_records"]
        context["webhooks"]["endpoints"].append({"url": f"http://{gone}/hooks"})
        urls = {"TWILIO_API_BASE_URL": f"http://{rest}", **weather_env(weather)}
        env = agent_env(context, **urls, **RECORDS_ENV)
        with json_log() as log:
            async with a_phone_call(bot_deps(env, nova), nova):
                # the whole conversation ran, and the line was hung up, while call.started's first attempt was held
                await until(lambda: updates)
                assert [u.get("Status") for u in updates] == ["completed"]
                assert len(receiver.hooks) == 1 and not hold.is_set()
                hold.set()  # the receiver answers now: 503, every time
                reported = await until_logged(log, "call.reported")

    # each event, to each endpoint, tried exactly ATTEMPTS times, then given up; nothing sent after
    assert Counter(receiver.types()) == {"call.started": ATTEMPTS, "call.ended": ATTEMPTS, "transcript.ready": ATTEMPTS}
    assert (reported["webhooks_delivered"], reported["webhooks_failed"]) == (0, 6)
    failed = [(e["webhook_event"], e["endpoint"], e["attempts"], e["error"]) for e in events(log, "webhook.failed")]
    expected = []
    for event in ("call.started", "call.ended", "transcript.ready"):
        expected += [(event, hooks, ATTEMPTS, "HTTP 503"), (event, gone, ATTEMPTS, "ConnectError")]
    assert sorted(failed) == sorted(expected)
    # every attempt is signed afresh under its event's one webhook-id
    verifier = Webhook(WHSEC)
    ids: dict[str, set[str]] = {h.json["type"]: set() for h in receiver.hooks}
    for hook in receiver.hooks:
        verifier.verify(hook.body, hook.headers)
        ids[hook.json["type"]].add(hook.headers["webhook-id"])
    assert all(len(one) == 1 for one in ids.values()) and len(set.union(*ids.values())) == 3
    assert len(receiver.hooks) == 3 * ATTEMPTS  # still: the retries stopped


async def test_records_without_credentials_or_signing_secret_never_stop_a_call() -> None:
    nova, receiver = FakeNovaSonic(), Receiver()
    async with serve(receiver.app()) as hooks:
        env = agent_env(records_context("https://s3.example", "calls", hooks))  # none of RECORDS_ENV
        with json_log() as log:
            async with serve(bot_app(bot_deps(env, nova))) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
                for message in twilio_start():
                    await ws.send(message)
                await (await nova.stream()).wait_for("promptStart")  # the session runs
                await ws.send(twilio_stop())
                await ws.close()
                reported = await until_logged(log, "call.reported")
    errors = [line["message"] for line in events(log) if line["level"] == "ERROR"]
    assert errors == [
        "call records configured but not stored: CALL_RECORDS_AWS_ACCESS_KEY_ID and "
        "CALL_RECORDS_AWS_SECRET_ACCESS_KEY not set in the agent's secrets",
        "webhooks configured but not sent: WEBHOOK_SIGNING_SECRET is not set in the agent's secrets",
    ]
    assert reported["records"] == {"transcript.json": "skipped", "metadata.json": "skipped"}
    assert receiver.hooks == []  # never unsigned
    assert events(log, "call.ended")[0]["end_reason"] == "caller_hung_up"
