"""The status page's HTTP side: open without OPERATOR_TOKEN; with it, signed in only by the form, `?token=` once
or a bearer header (a cookie holding an HMAC of the token, never the token), `next` stays on this site, pages are
escaped; and the operator endpoints to pause and resume an agent."""

from __future__ import annotations

import asyncio

from pydantic import SecretStr

from config_sync_service.core.config import Settings
from config_sync_service.db.session import SessionFactory
from tests.helpers import agent_row, make_agent, running_daemon

TOKEN = "ui-token-for-http-tests"


async def test_without_a_token_the_page_is_open(daemon_settings: Settings, session_factory: SessionFactory) -> None:
    agent = await make_agent(session_factory, "plain-agent")
    async with running_daemon(daemon_settings) as daemon:
        listing, one, unknown, not_an_id, letters, login = await asyncio.gather(
            daemon.get("/ui"),
            daemon.get(f"/ui/agents/{agent.id}"),
            daemon.get("/ui/agents/00000000-0000-0000-0000-000000000000"),
            daemon.get("/ui/agents/<b>x<i>"),
            daemon.get("/ui/dead-letters"),
            daemon.get("/ui/login"),
        )
        paused = await daemon.http.post(f"/operator/agents/{agent.id}/pause", json={"reason": "x"})
    assert (
        listing.status_code == 200 and "plain-agent" in listing.text and "text/html" in listing.headers["content-type"]
    )
    assert one.status_code == 200 and "History" in one.text
    assert unknown.status_code == 404 and not_an_id.status_code == 404
    assert "<b>x<i>" not in not_an_id.text and "&lt;b&gt;x&lt;i&gt;" in not_an_id.text
    assert letters.status_code == 200 and "The dead-letter list is empty." in letters.text
    assert login.status_code == 303 and login.headers["location"] == "/ui"
    assert paused.status_code == 404  # changing endpoints exist only with OPERATOR_TOKEN


async def test_with_a_token_a_browser_signs_in_once(daemon_settings: Settings, session_factory: SessionFactory) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    agent = await make_agent(session_factory, "guarded-agent")
    async with running_daemon(settings) as daemon:
        anonymous = await daemon.get(f"/ui/agents/{agent.id}")
        wrong = await daemon.get("/ui?token=nope")
        once = await daemon.get("/ui/dead-letters?token=" + TOKEN + "&offset=0")
        cookie = once.cookies["config_sync_ui"]
        with_cookie = await daemon.get("/ui", cookies={"config_sync_ui": cookie})
        forged = await daemon.get("/ui", cookies={"config_sync_ui": TOKEN})
        bearer = await daemon.get("/ui", headers={"Authorization": f"Bearer {TOKEN}"})
        form = {"token": TOKEN, "next": "//evil.example/ui"}
        posted = await daemon.http.post("/ui/login", data=form)
        refused = await daemon.http.post("/ui/login", data={"token": "nope", "next": "/ui"})
        logout = await daemon.get("/ui/logout")

        auth = {"Authorization": f"Bearer {TOKEN}"}
        no_reason = await daemon.http.post(f"/operator/agents/{agent.id}/pause", json={"reason": ""}, headers=auth)
        unauthorized = await daemon.http.post(f"/operator/agents/{agent.id}/pause", json={"reason": "r"})
        paused = await daemon.http.post(f"/operator/agents/{agent.id}/pause", json={"reason": "hold"}, headers=auth)
        row_paused = await agent_row(session_factory, agent.id)
        resumed = await daemon.http.post(f"/operator/agents/{agent.id}/resume", headers=auth)
        history_refused = await daemon.get(f"/operator/agents/{agent.id}/history")

    assert anonymous.status_code == 303 and anonymous.headers["location"] == f"/ui/login?next=/ui/agents/{agent.id}"
    assert wrong.status_code == 401 and "That token is not the operator token." in wrong.text
    assert once.status_code == 303 and once.headers["location"] == "/ui/dead-letters?offset=0"
    assert TOKEN not in cookie and "httponly" in once.headers["set-cookie"].lower()
    assert "samesite=strict" in once.headers["set-cookie"].lower() and "path=/ui" in once.headers["set-cookie"].lower()
    assert with_cookie.status_code == 200 and "guarded-agent" in with_cookie.text
    assert forged.status_code == 303
    assert bearer.status_code == 200
    assert posted.status_code == 303 and posted.headers["location"] == "/ui"  # never off this site
    assert refused.status_code == 401
    assert logout.status_code == 303 and 'config_sync_ui=""' in logout.headers["set-cookie"]
    assert no_reason.status_code == 422 and unauthorized.status_code == 401
    assert paused.status_code == 200 and (row_paused.paused, row_paused.paused_reason) == (True, "hold")
    assert resumed.status_code == 200 and resumed.json() == {"agent_id": str(agent.id), "paused": False, "version": 1}
    assert (await agent_row(session_factory, agent.id)).paused is False
    assert history_refused.status_code == 401
