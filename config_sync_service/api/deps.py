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


def operator_token(runtime: Runtime) -> str | None:
    """The configured `OPERATOR_TOKEN`; an empty one counts as none (it would accept an empty bearer)."""
    token = runtime.settings.operator_token
    return token.get_secret_value() if token is not None and token.get_secret_value() else None


def bearer_ok(request: Request, token: str) -> bool:
    """The request carries `Authorization: Bearer <token>` (compared in constant time)."""
    scheme, _, given = request.headers.get("authorization", "").partition(" ")
    return scheme.lower() == "bearer" and secrets.compare_digest(given.strip().encode(), token.encode())


def require_operator(request: Request, runtime: RuntimeDep) -> None:
    """When `OPERATOR_TOKEN` is set, `/status` and operator endpoints need `Authorization: Bearer <token>`."""
    token = operator_token(runtime)
    if token is not None and not bearer_ok(request, token):
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "operator token required", headers={"WWW-Authenticate": "Bearer"}
        )


OperatorDep = Depends(require_operator)


def require_operator_endpoints(runtime: RuntimeDep) -> None:
    """Endpoints that change things exist only when `OPERATOR_TOKEN` is set: 404 otherwise."""
    if operator_token(runtime) is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "Not Found")


# order matters: without a token the endpoints do not exist (404) before anyone is refused (401)
OperatorEndpointsDeps = [Depends(require_operator_endpoints), OperatorDep]
