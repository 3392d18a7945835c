"""Explicit dependencies of the routes: the process's runtime and the operator token check."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import Depends, HTTPException, Request, status

from config_sync_service.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


def require_operator(request: Request, runtime: RuntimeDep) -> None:
    """When `OPERATOR_TOKEN` is set, `/status` and operator endpoints need `Authorization: Bearer <token>`."""
    token = runtime.settings.operator_token
    if token is None:
        return
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not secrets.compare_digest(given.encode(), token.get_secret_value().encode()):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "operator token required", headers={"WWW-Authenticate": "Bearer"}
        )


OperatorDep = Depends(require_operator)
