"""Helpers for whatever starts processes and servers of its own (the tests, the benchmark): a free port, and
killing a process group so that nothing started outlives its starter."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess


def free_port() -> int:
    """A TCP port on loopback that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kill_group(proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL, *, timeout_s: float = 10.0) -> None:
    """Signal the process's whole group (it was started with `start_new_session=True`: gunicorn and its workers,
    say) and wait for the process; whatever happened, it does not outlive the caller."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, sig)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=timeout_s)
