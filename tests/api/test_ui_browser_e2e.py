"""The status page in a real headless Chromium (Debian's `chromium`, driven by playwright): sign in with the
operator token, read the agents as a person sees them, follow the link to one agent and read its history and dead
letters. Fails (never skips) when chromium is missing: `make pytest` installs it (scripts/install-chromium.sh)."""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator

import pytest
import redis.asyncio as aioredis
from playwright.async_api import Browser, Page, async_playwright, expect
from pydantic import SecretStr

from config_sync_service.admin import agents as agent_tools
from config_sync_service.core.config import Settings
from config_sync_service.db.models import SyncStatus
from config_sync_service.db.session import SessionFactory
from config_sync_service.schemas.messages import ChangeType
from tests.emulator_control import EmulatorControl
from tests.helpers import agent_row, make_agent, publish, running_daemon, wait_until

TOKEN = "ui-operator-token-7f3a"


def chromium_path() -> str:
    found = os.environ.get("CHROMIUM") or shutil.which("chromium")
    if not found:
        pytest.fail("chromium is not installed: run scripts/install-chromium.sh (make pytest does)")
    return found


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=chromium_path(), headless=True)
        try:
            yield launched
        finally:
            await launched.close()


async def status_is(sessions: SessionFactory, agent_id: object, status: SyncStatus) -> bool:
    return (await agent_row(sessions, agent_id)).sync_status is status  # type: ignore[arg-type]


async def test_an_operator_signs_in_reads_the_agents_and_follows_one(
    browser: Browser,
    daemon_settings: Settings,
    session_factory: SessionFactory,
    redis: aioredis.Redis,
    control: EmulatorControl,
) -> None:
    settings = daemon_settings.model_copy(update={"operator_token": SecretStr(TOKEN)})
    hostile = await make_agent(session_factory, "hostile-bot")
    async with session_factory() as s:
        from config_sync_service.db import crud

        await crud.update_agent(s, agent_id=hostile.id, name="<script>alert(1)</script> Sales")
        await s.commit()
    await control.fail_next("createService", times=1, status=400)  # the first provision is refused for good
    async with running_daemon(settings) as daemon:
        await publish(redis, settings, hostile.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: status_is(session_factory, hostile.id, SyncStatus.ERROR_SYNC), what="refused")
        healthy = await make_agent(session_factory, "support-bot")  # after: the refusal was the other's
        await publish(redis, settings, healthy.id, 1, ChangeType.PROVISION)
        await wait_until(lambda: status_is(session_factory, healthy.id, SyncStatus.SYNCED), what="synced")
        await agent_tools.pause_agent(session_factory, healthy.id, reason="incident 42")

        page = await browser.new_page()
        await page.goto(f"{daemon.url}/ui")
        await expect(page.get_by_role("heading", name="Sign in")).to_be_visible()  # no cookie yet
        await page.get_by_label("Operator token").fill("wrong")
        await page.get_by_role("button", name="Sign in").click()
        await expect(page.get_by_text("That token is not the operator token.")).to_be_visible()
        await page.get_by_label("Operator token").fill(TOKEN)
        await page.get_by_role("button", name="Sign in").click()

        await expect(page.get_by_role("heading", name="Agents")).to_be_visible()
        await _agents_as_seen(page, healthy.id, hostile.id)
        await page.get_by_role("link", name="<script>alert(1)</script> Sales").click()
        await _agent_as_seen(page)

        # `?token=` once in a fresh browser: the cookie is set and the address loses the token
        fresh = await browser.new_page()
        await fresh.goto(f"{daemon.url}/ui/dead-letters?token={TOKEN}")
        assert fresh.url == f"{daemon.url}/ui/dead-letters"
        await expect(fresh.locator("#dead-letters tbody tr")).to_have_count(1)
        await expect(fresh.locator("#dead-letters")).to_contain_text("PipecatValidationError")


async def _agents_as_seen(page: Page, healthy: object, hostile: object) -> None:
    rows = page.locator("#agents tbody tr")
    await expect(rows).to_have_count(2)
    healthy_row = page.locator(f'tr[data-agent-id="{healthy}"]')
    await expect(healthy_row).to_contain_text("support-bot")
    await expect(healthy_row).to_contain_text("SYNCED")
    await expect(healthy_row).to_contain_text("PAUSED incident 42")
    hostile_row = page.locator(f'tr[data-agent-id="{hostile}"]')
    await expect(hostile_row).to_contain_text("<script>alert(1)</script> Sales")  # shown as text, never run
    await expect(hostile_row).to_contain_text("ERROR_SYNC")
    await expect(hostile_row).to_contain_text("PipecatValidationError")
    assert await page.locator("main script").count() == 0


async def _agent_as_seen(page: Page) -> None:
    await expect(page.get_by_role("heading", name="<script>alert(1)</script> Sales")).to_be_visible()
    await expect(page.locator("#details")).to_contain_text("ERROR_SYNC")
    refused = page.locator("#history tbody tr", has_text="dead_lettered")  # (and a no-op, if a sweep looked too)
    await expect(refused).to_have_count(1)
    await expect(refused).to_contain_text("provision")
    await expect(refused).to_contain_text("400 GENERIC_BAD_REQUEST")
    await expect(page.locator("#dead-letters")).to_contain_text("PipecatValidationError")
