"""Run the emulator on a real port in a background thread (tests, `config-sync dev`)."""

from __future__ import annotations

import threading
import time
from typing import Any

import uvicorn

from config_sync_service.emulator.app import create_app
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY, EmulatorConfig, check_bind
from config_sync_service.emulator.state import EmulatorState


def dev_config(*, deploy_delay_s: float = 2.0, secret_ready_delay_s: float = 0.3) -> EmulatorConfig:
    return EmulatorConfig(deploy_delay_s=deploy_delay_s, secret_ready_delay_s=secret_ready_delay_s)


class EmulatorServer:
    """uvicorn in a thread; port 0 picks a free port. Use as a context manager or `start()`/`stop()`. Loopback only
    unless `allow_remote`."""

    def __init__(
        self,
        config: EmulatorConfig | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        allow_remote: bool = False,
    ) -> None:
        check_bind(host, allow_remote=allow_remote)
        self.config = config or EmulatorConfig()
        self.app = create_app(self.config)
        self.host = host
        self._server = uvicorn.Server(
            uvicorn.Config(
                self.app, host=host, port=port, log_level="warning", log_config=None, lifespan="off", access_log=False
            )
        )
        self._thread = threading.Thread(target=self._server.run, name="pipecat-emulator", daemon=True)
        self.port = port

    @property
    def state(self) -> EmulatorState:
        state: EmulatorState = self.app.state.emulator
        return state

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def api_url(self) -> str:
        return f"{self.url}/v1"

    def client_settings(self) -> dict[str, Any]:
        """Settings overrides that point config-sync at this emulator."""
        from pydantic import AnyUrl, SecretStr

        return {
            "pipecat_api_url": AnyUrl(self.api_url),
            "pipecat_api_key": SecretStr(
                self.config.private_keys[0] if self.config.private_keys else DEFAULT_PRIVATE_KEY
            ),
            "pipecat_public_api_key": SecretStr(
                self.config.public_keys[0] if self.config.public_keys else DEFAULT_PUBLIC_KEY
            ),
        }

    def start(self) -> None:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError(f"the Pipecat Cloud emulator did not start on {self.host}:{self.port}")
            time.sleep(0.01)
        sockets = [s for server in self._server.servers for s in server.sockets]
        self.port = int(sockets[0].getsockname()[1])

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)

    def __enter__(self) -> EmulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
