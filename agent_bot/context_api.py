"""`POST /context`: apply a new conversation context inside a running session (config-sync's CONTEXT_UPDATE);
`GET /context`: the configuration version the session runs.

Pipecat Cloud's Session API forwards `POST /v1/public/{agent}/sessions/{id}/context` to this route on the
bot's own app (`pipecatcloud_system.app` in the base image), with the session id in `x-daily-session-id`.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, FastAPI, Header, HTTPException
from loguru import logger
from pydantic import BaseModel, Field

from agent_bot import session as sessions
from agent_bot.config import AgentConfigError, parse_context

router = APIRouter()


class ContextUpdate(BaseModel):
    version: int = Field(ge=1, strict=True)
    llm_context: dict[str, Any]


@router.post("/context")
async def update_context(update: ContextUpdate, x_daily_session_id: str = Header(...)) -> dict[str, Any]:
    """200 `{"status": "applied", "version", "mode"}` (mode: reset | appended | unchanged), or `"stale"` with the
    newer version the session keeps; 422 for a malformed context (the session carries on); 404 for no session."""
    running = sessions.SESSIONS.get(x_daily_session_id)
    if running is None:
        raise HTTPException(404, f"no running session {x_daily_session_id}")
    try:
        new = parse_context(update.llm_context)
    except AgentConfigError as exc:
        raise HTTPException(422, str(exc)) from None
    mode = await running.apply_context(update.version, new)
    if mode == "stale":  # an older version than the session runs: keep the newer one
        return {"status": "stale", "version": running.applied_version}
    logger.info(f"session {x_daily_session_id}: context v{update.version} applied ({mode})")
    return {"status": "applied", "version": update.version, "mode": mode}


@router.get("/context")
async def current_context(x_daily_session_id: str = Header(...)) -> dict[str, Any]:
    """200 `{"session_id", "version"}`: the configuration version this session runs now (what config-sync shows
    for a session that refused a push); 404 for no session."""
    running = sessions.SESSIONS.get(x_daily_session_id)
    if running is None:
        raise HTTPException(404, f"no running session {x_daily_session_id}")
    return {"session_id": x_daily_session_id, "version": running.applied_version}


def install(app: FastAPI | None = None) -> bool:
    """Add the route to `app`, or to the base image's Session API app when it exists."""
    if app is None:
        try:
            from pipecatcloud_system import app as base_app  # type: ignore[import-not-found]  # base image only
        except ImportError:
            return False
        app = base_app
    app.include_router(router)
    return True
