"""What tests ask the emulator: the shared control client (config_sync_service/emulator/control_client.py, which
the benchmark uses too), and the operations that change something on Pipecat."""

from __future__ import annotations

from config_sync_service.emulator.control_client import EmulatorControl

MUTATING_OPS = {
    "createService",
    "updateService",
    "deleteService",
    "upsertSecretSet",
    "deleteSecretSet",
    "stopSession",
    "sessionProxy",
}

__all__ = ["MUTATING_OPS", "EmulatorControl"]
