"""Leave `make run`'s settings where the CLI finds them: a `.env` in the repository (the settings read `.env` from
the working directory), so `config-sync dlq list`, `publish`, `reconcile` and `status` work in a second shell
without exporting anything. Called by `make run`; run with the project's venv.

    dev-env.py --database-url URL --emulator-port PORT [--file .env]

The file starts with a marker line. A `.env` without it is the developer's own: it is never changed, and the
lines it would need are printed instead. One with it is rewritten (make run's settings may have changed).
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from config_sync_service.core.config import Settings
from config_sync_service.emulator.config import DEFAULT_PRIVATE_KEY, DEFAULT_PUBLIC_KEY

MARKER = "# written by `make run` (scripts/dev-env.py)"


def dev_settings(database_url: str, emulator_port: int) -> dict[str, str]:
    """What `make run`'s daemon uses: its database, the Redis it reaches, the built-in emulator and its keys."""
    redis_url = os.environ.get("REDIS_URL") or str(Settings.model_fields["redis_url"].default)
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "PIPECAT_API_URL": f"http://127.0.0.1:{emulator_port}/v1",
        "PIPECAT_API_KEY": DEFAULT_PRIVATE_KEY,
        "PIPECAT_PUBLIC_API_KEY": DEFAULT_PUBLIC_KEY,
        "LOG_FORMAT": "console",
    }


def write_env(path: Path, values: dict[str, str]) -> bool:
    """Write `path` unless it is someone else's; True when written."""
    if path.exists() and not path.read_text(errors="replace").startswith(MARKER):
        return False
    lines = [f"{MARKER}; rewritten on every run. Delete this line to keep your own.", *_lines(values)]
    partial = path.with_name(path.name + ".partial")
    partial.write_text("\n".join(lines) + "\n")
    partial.replace(path)  # atomic: a second shell never reads half a file
    return True


def _lines(values: dict[str, str]) -> list[str]:
    return [f"{key}={value}" for key, value in values.items()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--emulator-port", type=int, required=True)
    parser.add_argument("--file", type=Path, default=Path(".env"))
    args = parser.parse_args(argv)
    values = dev_settings(args.database_url, args.emulator_port)
    if write_env(args.file, values):
        print(f"make run: wrote {args.file}: config-sync commands in another shell of this folder use this daemon")
    else:
        print(
            f"make run: {args.file} is your own (no `make run` marker), so it is left as it is. For config-sync "
            "commands in another shell to reach this daemon, it needs:\n  " + "\n  ".join(_lines(values)),
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
