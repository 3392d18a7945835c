"""POST /context inside a running call: Nova Sonic reconnects with the new prompt, voice and tools; added
knowledge goes into the live session as text; malformed contexts are refused and the call carries on."""

from __future__ import annotations

import asyncio

import httpx
import websockets
from pipecat.services.aws.nova_sonic.session_continuation import SessionContinuationParams

from agent_bot.bot import BotDeps
from agent_bot.session import SESSIONS
from tests.agent_bot.fake_nova import FakeNovaSonic
from tests.agent_bot.support import agent_env, bot_app, serve, twilio_media, twilio_start, twilio_stop


async def test_context_updates_during_a_call() -> None:
    nova = FakeNovaSonic()
    deps = BotDeps(
        environ=agent_env(), llm_class=nova.llm_class(), session_continuation=SessionContinuationParams(enabled=False)
    )
    async with serve(bot_app(deps)) as bot, websockets.connect(f"ws://{bot}/ws") as ws:
        for message in twilio_start({"caller_name": "Ada"}):
            await ws.send(message)
        first = await nova.stream(0)
        await first.wait_for("promptStart")
        async with httpx.AsyncClient(base_url=f"http://{bot}", headers={"x-daily-session-id": "session-1"}) as http:
            bad = await http.post(
                "/context", json={"version": 4, "llm_context": {"system_prompt": "", "tools": ["rm_rf"]}}
            )
            assert bad.status_code == 422 and "llm_context.system_prompt" in bad.json()["detail"]
            typo = await http.post("/context", json={"version": "4", "llm_context": {"system_prompt": "x"}})
            assert typo.status_code == 422  # known fields are strict: no coercion of the version either
            assert len(nova.streams) == 1 and not first.closed  # the session carried on untouched

            # prompt, voice and tools changed: Nova Sonic reconnects and the new session starts with them
            new = {"system_prompt": "You are now a pirate concierge.", "voice_id": "matthew", "tools": ["end_call"]}
            applied = await http.post("/context", json={"version": 4, "llm_context": new})
            assert applied.json() == {"status": "applied", "version": 4, "mode": "reset"}
            assert (await http.get("/context")).json() == {"session_id": "session-1", "version": 4}
            second = await nova.stream(1)
            await second.wait_for("textInput")
            assert second.system_text().startswith("You are now a pirate concierge.")
            assert "caller name: Ada" in second.system_text()  # the call's own facts survive the update
            assert second.voice() == "matthew" and second.tool_names() == ["end_call"]

            stale = await http.post("/context", json={"version": 3, "llm_context": new})
            assert stale.json() == {"status": "stale", "version": 4}
            assert (await http.get("/context")).json()["version"] == 4  # the refused push changed nothing
            nobody = await http.get("/context", headers={"x-daily-session-id": "session-9"})
            assert nobody.status_code == 404
            same = await http.post("/context", json={"version": 5, "llm_context": new})
            assert same.json() == {"status": "applied", "version": 5, "mode": "unchanged"}

            # a knowledge snippet and nothing else: the live session takes it as text, no reconnect
            knowledge = new | {"knowledge_base": [{"title": "Hours", "content": "Open 9 to 5."}]}
            sent = len(second.events("textInput"))
            appended = await http.post("/context", json={"version": 6, "llm_context": knowledge})
            assert appended.json() == {"status": "applied", "version": 6, "mode": "appended"}
            await second.wait_for("textInput", sent + 1)
            assert second.texts("USER")[-1] == (
                "New reference knowledge (no need to answer this):\n## Hours\nOpen 9 to 5.",
                False,  # taken in, not answered
            )
            assert len(nova.streams) == 2

            # every tool removed: the next session offers none (not the ones the call started with)
            applied = await http.post("/context", json={"version": 7, "llm_context": knowledge | {"tools": []}})
            assert applied.json()["mode"] == "reset"
            third = await nova.stream(2)
            await third.wait_for("textInput")
            assert third.tool_names() == [] and "## Hours\nOpen 9 to 5." in third.system_text()

            missing = await http.post(
                "/context", json={"version": 8, "llm_context": new}, headers={"x-daily-session-id": "nope"}
            )
            assert missing.status_code == 404

        for message in twilio_media(5):  # the call is still alive after all of it
            await ws.send(message)
        await asyncio.sleep(0.2)
        assert not third.closed
        # the caller hangs up: Twilio sends `stop` and closes; the bot's session ends and leaves the registry
        await ws.send(twilio_stop())
        await ws.close()
    for _ in range(100):
        if "session-1" not in SESSIONS:
            break
        await asyncio.sleep(0.05)
    assert "session-1" not in SESSIONS
