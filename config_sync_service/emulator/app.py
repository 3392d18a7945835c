"""The emulator's FastAPI app: the documented API, fault injection, and the `/_emulator` controls."""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from config_sync_service.emulator import control, routes_agents, routes_org, routes_secrets, routes_sessions
from config_sync_service.emulator.config import EmulatorConfig
from config_sync_service.emulator.faults import FaultInjector, RecordAndInject
from config_sync_service.emulator.state import EmulatorState


def create_app(config: EmulatorConfig | None = None) -> FastAPI:
    state = EmulatorState(config or EmulatorConfig())
    injector = FaultInjector(state)
    app = FastAPI(title="Pipecat Cloud emulator", docs_url="/_emulator/docs", openapi_url="/_emulator/openapi.json")
    app.state.emulator = state
    app.state.injector = injector
    app.add_middleware(RecordAndInject, state=state, injector=injector)
    app.include_router(routes_agents.private)
    app.include_router(routes_secrets.private)
    app.include_router(routes_sessions.private)
    app.include_router(routes_sessions.public)
    app.include_router(routes_org.users)
    app.include_router(routes_org.org)
    app.include_router(control.router)

    @app.exception_handler(HTTPException)
    async def api_error(request: Request, exc: HTTPException) -> JSONResponse:
        body: Any = (
            exc.detail if isinstance(exc.detail, dict) else {"error": str(exc.detail), "code": str(exc.status_code)}
        )
        if exc.status_code == 404 and not isinstance(exc.detail, dict):
            body = {"error": "API endpoint not found", "code": "404"}
        return JSONResponse(body, status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"error": "Invalid request", "code": "GENERIC_BAD_REQUEST"}, status_code=400)

    return app
