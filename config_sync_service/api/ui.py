"""`/ui`: the read-only status page, rendered on the server with Jinja2 (autoescaped), no front-end build.

Pages: the agents (`/ui`), one agent with its history and differences (`/ui/agents/{id}`), the dead-letter list
(`/ui/dead-letters`). When `OPERATOR_TOKEN` is set a browser signs in once: with the token in the login form
(`/ui/login`), or by opening any page with `?token=…` once; either sets an HttpOnly cookie scoped to `/ui` that
holds an HMAC of the token (not the token itself), and the page is shown again without the token in its address.
`/ui/logout` clears it. A bearer header is accepted as everywhere else.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import jinja2
from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from config_sync_service import __version__
from config_sync_service.admin import agents as agent_tools
from config_sync_service.admin import dlq
from config_sync_service.api.deps import RuntimeDep, bearer_ok, operator_token
from config_sync_service.core.redaction import excerpt
from config_sync_service.db import crud, overview, pause
from config_sync_service.runtime import Runtime

router = APIRouter(prefix="/ui", tags=["ui"], include_in_schema=False)
COOKIE = "config_sync_ui"
PAGE_SIZE = 500
_templates = jinja2.Environment(
    loader=jinja2.PackageLoader("config_sync_service.api", "templates"),
    autoescape=True,  # every value is data from outside (names, error texts, dead letters)
    undefined=jinja2.StrictUndefined,
)


def _when(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%SZ")
    if isinstance(value, int | float) and value:
        return datetime.fromtimestamp(float(value), UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return "—"


_templates.filters["when"] = _when
_templates.filters["redacted"] = lambda text, limit=300: "" if text is None else excerpt(str(text), limit)


def _cookie_value(token: str) -> str:
    return hmac.new(token.encode(), b"config-sync-ui", hashlib.sha256).hexdigest()


def _gate(request: Request, runtime: Runtime) -> Response | None:
    """None when the browser may see the page; otherwise what to answer instead (the login page, or the page
    again without the token just given in its address)."""
    token = operator_token(runtime)
    if token is None:
        return None
    given = request.query_params.get("token")
    if given is not None:
        if not secrets.compare_digest(given.encode(), token.encode()):
            return _login_page(request, "That token is not the operator token.", status=401)
        rest = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
        query = "&".join(f"{quote(k)}={quote(v)}" for k, v in rest)
        return _with_cookie(request, RedirectResponse(request.url.path + (f"?{query}" if query else ""), 303))
    cookie = request.cookies.get(COOKIE, "")
    if secrets.compare_digest(cookie.encode(), _cookie_value(token).encode()) or bearer_ok(request, token):
        return None
    return RedirectResponse(f"/ui/login?next={quote(request.url.path)}", 303)


def _with_cookie(request: Request, response: Response) -> Response:
    token = operator_token(request.app.state.runtime)
    assert token is not None
    secure = request.url.scheme == "https"
    response.set_cookie(COOKIE, _cookie_value(token), path="/ui", httponly=True, samesite="strict", secure=secure)
    return response


def _page(name: str, status: int = 200, **context: Any) -> HTMLResponse:
    html = _templates.get_template(name).render(version=__version__, **context)
    return HTMLResponse(html, status, headers={"cache-control": "no-store", "x-frame-options": "DENY"})


def _login_page(request: Request, error: str | None = None, *, status: int = 200) -> HTMLResponse:
    target = request.query_params.get("next", "/ui")
    return _page("login.html", status, error=error, next=_local(target), signed_in=False)


def _local(target: str) -> str:
    """Only a page of this UI: `next` must not send a browser elsewhere."""
    return target if target.startswith("/ui") and not target.startswith("//") else "/ui"


# --- pages --------------------------------------------------------------------------------------------------
@router.get("", response_class=HTMLResponse)
async def agents_page(request: Request, runtime: RuntimeDep, offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    if (answer := _gate(request, runtime)) is not None:
        return answer
    async with runtime.sessions() as s:
        total, rows = await overview.agents(s, limit=PAGE_SIZE, offset=offset)
        by_status = await crud.count_agents_by_status(s)  # the cards count every agent, not this page's
        paused = await pause.count_paused(s)
    counts = {
        "synced": by_status.get("SYNCED", 0),
        "failing": by_status.get("ERROR_SYNC", 0) + by_status.get("ERROR_DEPROVISIONING", 0),
        "paused": paused,
        "dead_letters": await runtime.dead_letters.depth(),
    }
    auth = _auth(runtime)
    return _page("agents.html", agents=rows, total=total, offset=offset, page=PAGE_SIZE, counts=counts, **auth)


@router.get("/agents/{agent_id}", response_class=HTMLResponse)
async def agent_page(request: Request, runtime: RuntimeDep, agent_id: str) -> Response:
    if (answer := _gate(request, runtime)) is not None:
        return answer
    try:
        target = uuid.UUID(agent_id)
    except ValueError:
        return _page("missing.html", 404, what="agent", ref=agent_id, **_auth(runtime))
    async with runtime.sessions() as s:
        row = await overview.agent(s, agent_id=target)
    if row is None:
        return _page("missing.html", 404, what="agent", ref=agent_id, **_auth(runtime))
    rows = await agent_tools.agent_history(runtime.sessions, target, limit=50)
    letters = await dlq.list_entries(runtime.dead_letters, dlq.Filter(agent_id=str(target)), offset=0, limit=20)
    differences = row.live_differences if isinstance(row.live_differences, list) else []
    return _page("agent.html", agent=row, history=rows, differences=differences, letters=letters, **_auth(runtime))


@router.get("/dead-letters", response_class=HTMLResponse)
async def dead_letters_page(request: Request, runtime: RuntimeDep, offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    if (answer := _gate(request, runtime)) is not None:
        return answer
    page = await dlq.list_entries(runtime.dead_letters, dlq.Filter(), offset=offset, limit=100)
    return _page("dead_letters.html", page=page, **_auth(runtime))


@router.get("/login", response_class=HTMLResponse)
async def login_form(request: Request, runtime: RuntimeDep) -> Response:
    if operator_token(runtime) is None:
        return RedirectResponse("/ui", 303)
    return _login_page(request)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, runtime: RuntimeDep) -> Response:
    """The form's token: right, a cookie and on to `next`; wrong, the form again (401)."""
    token = operator_token(runtime)
    if token is None:
        return RedirectResponse("/ui", 303)
    form = parse_qs((await request.body()).decode("utf-8", "replace"))
    given, target = form.get("token", [""])[0], _local(form.get("next", ["/ui"])[0])
    if not secrets.compare_digest(given.strip().encode(), token.encode()):
        return _page("login.html", 401, error="That token is not the operator token.", next=target, signed_in=False)
    return _with_cookie(request, RedirectResponse(target, 303))


@router.get("/logout")
async def logout() -> Response:
    response = RedirectResponse("/ui/login", 303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _auth(runtime: Runtime) -> dict[str, bool]:
    return {"signed_in": operator_token(runtime) is not None}
