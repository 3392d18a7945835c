"""Dev tooling: `config-sync dev` (emulator, demo agents and the daemon in one process). Only the CLI imports it."""
