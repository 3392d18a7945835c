"""The processes the benchmark starts (emulator, gunicorn daemon), and what they cost (psutil).

Every process is started in its own session and recorded in `STARTED`; `kill_all()` (called from a `finally`)
kills each process group, so nothing the benchmark started outlives it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil

from config_sync_service.devtools.procs import free_port, kill_group

ROOT = Path(__file__).resolve().parents[1]
STARTED: list[subprocess.Popen[bytes]] = []


def spawn(argv: list[str], *, env: dict[str, str], log_path: Path) -> subprocess.Popen[bytes]:
    with open(log_path, "ab") as log:
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    STARTED.append(proc)
    return proc


def kill_all() -> None:
    """Kill every process group the benchmark started (idempotent)."""
    while STARTED:
        kill_group(STARTED.pop())


def wait_http(url: str, *, timeout_s: float, proc: subprocess.Popen[bytes], what: str) -> float:
    """Poll `url` until it answers 200; returns when (time.time()). Fails if `proc` exits first."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode} before it was ready")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(url, timeout=1.0).status_code == 200:
                return time.time()
        time.sleep(0.05)
    raise RuntimeError(f"{what} not ready after {timeout_s:.0f} s ({url})")


@dataclass
class Emulator:
    port: int
    proc: subprocess.Popen[bytes]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @classmethod
    def start(cls, *, deploy_delay_s: float, secret_ready_delay_s: float, log_dir: Path) -> Emulator:
        port = free_port()
        argv = [sys.executable, "-m", "bench.emulator", "--port", str(port), "--deploy-delay", str(deploy_delay_s)]
        argv += ["--secret-ready-delay", str(secret_ready_delay_s)]
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": os.environ.get("HOME", "/tmp")}
        proc = spawn(argv, env=env, log_path=log_dir / "emulator.log")
        emulator = cls(port, proc)
        wait_http(f"{emulator.url}/_emulator/faults", timeout_s=30, proc=proc, what="the emulator")
        return emulator


@dataclass
class Daemon:
    """The daemon as the image runs it: `gunicorn -c gunicorn.conf.py config_sync_service.main:app`."""

    env: dict[str, str]
    log_path: Path
    port: int = 0
    proc: subprocess.Popen[bytes] | None = None
    spawned_at: float = 0.0
    ready_at: float = 0.0

    def start(self) -> None:
        self.port = free_port()
        gunicorn = str(Path(sys.executable).parent / "gunicorn")
        argv = [gunicorn, "-c", "gunicorn.conf.py", "config_sync_service.main:app"]
        self.spawned_at = time.time()
        self.proc = spawn(argv, env=self.env | {"PORT": str(self.port)}, log_path=self.log_path)
        self.ready_at = wait_http(
            f"http://127.0.0.1:{self.port}/readyz", timeout_s=60, proc=self.proc, what="the daemon (gunicorn)"
        )

    def workers(self) -> list[psutil.Process]:
        if self.proc is None:
            return []
        with contextlib.suppress(psutil.NoSuchProcess):
            return list(psutil.Process(self.proc.pid).children())
        return []

    def workers_cpu_s(self) -> float:
        """CPU seconds (user + system) the current workers have used since they were forked."""
        total = 0.0
        for worker in self.workers():
            with contextlib.suppress(psutil.NoSuchProcess):
                times = worker.cpu_times()
                total += times.user + times.system
        return total

    def stop(self, timeout_s: float = 40.0) -> None:
        """SIGTERM to gunicorn (graceful), SIGKILL to the group if it is still there after `timeout_s`."""
        if self.proc is None:
            return
        with contextlib.suppress(ProcessLookupError):
            self.proc.send_signal(signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(timeout=timeout_s)
        kill_group(self.proc)
        with contextlib.suppress(ValueError):
            STARTED.remove(self.proc)
        self.proc = None


@dataclass
class RoleUsage:
    cpu_s: float = 0.0
    peak_rss_mb: dict[int, float] = field(default_factory=dict)


class Sampler:
    """Samples CPU time and RSS of the benchmark's processes by role every `interval_s` (a thread).

    Roles: `workers` (gunicorn's children), `master`, `emulator`, `postgres` (the backends serving the bench
    database), `driver` (this process). CPU totals include processes that have exited since (last sample); a
    Postgres backend that lives less than a second or so (a pool's overflow connection) is missed.
    """

    def __init__(self, *, database: str, interval_s: float = 0.25) -> None:
        self.database = database
        self.interval_s = interval_s
        self.daemon: Daemon | None = None
        self.emulator: Emulator | None = None
        self._cpu: dict[tuple[str, int], float] = {}
        self._rss_peak: dict[tuple[str, int], float] = {}
        self._postgres: set[int] = set()
        self._known: dict[int, psutil.Process] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="bench-sampler", daemon=True)
        self._last_scan = 0.0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _process(self, pid: int) -> psutil.Process:
        proc = self._known.get(pid)
        if proc is None:
            proc = self._known[pid] = psutil.Process(pid)
        return proc

    def _processes(self) -> list[tuple[str, psutil.Process]]:
        found: list[tuple[str, psutil.Process]] = [("driver", self._process(os.getpid()))]
        with contextlib.suppress(psutil.NoSuchProcess):
            if self.emulator is not None:
                found.append(("emulator", self._process(self.emulator.proc.pid)))
            if self.daemon is not None and self.daemon.proc is not None:
                found.append(("master", self._process(self.daemon.proc.pid)))
                found += [("workers", self._process(w.pid)) for w in self.daemon.workers()]
        now = time.monotonic()
        if now - self._last_scan > 1.0:  # new Postgres backends (pools open connections as they need them)
            self._last_scan = now
            for proc in psutil.process_iter(["name", "cmdline"]):
                cmdline = " ".join(proc.info["cmdline"] or [])
                if proc.info["name"] == "postgres" and f" {self.database} " in f" {cmdline} ":
                    self._postgres.add(proc.pid)
        for pid in list(self._postgres):
            try:
                found.append(("postgres", self._process(pid)))
            except psutil.NoSuchProcess:
                self._postgres.discard(pid)
        return found

    def sample(self) -> None:
        with self._lock:
            for role, proc in self._processes():
                try:
                    with proc.oneshot():
                        times = proc.cpu_times()
                        rss = proc.memory_info().rss / 2**20
                except (psutil.NoSuchProcess, psutil.AccessDenied):
                    self._known.pop(proc.pid, None)
                    self._postgres.discard(proc.pid)
                    continue
                key = (role, proc.pid)
                self._cpu[key] = times.user + times.system
                self._rss_peak[key] = max(self._rss_peak.get(key, 0.0), rss)

    def _loop(self) -> None:
        while not self._stop.wait(self.interval_s):
            with contextlib.suppress(Exception):  # a process vanishing mid-sample is expected
                self.sample()

    def usage(self) -> dict[str, RoleUsage]:
        """CPU seconds so far and peak RSS per process, by role (a fresh sample first)."""
        self.sample()
        out: dict[str, RoleUsage] = {}
        with self._lock:
            for (role, pid), cpu in self._cpu.items():
                usage = out.setdefault(role, RoleUsage())
                usage.cpu_s += cpu
                usage.peak_rss_mb[pid] = self._rss_peak.get((role, pid), 0.0)
        busy = psutil.cpu_times()
        out["machine"] = RoleUsage(cpu_s=busy.user + busy.system + busy.nice + busy.irq + busy.softirq + busy.steal)
        return out

    def reset_peaks(self) -> None:
        with self._lock:
            self._rss_peak.clear()


def cpu_between(before: dict[str, RoleUsage], after: dict[str, RoleUsage]) -> dict[str, float]:
    """CPU seconds per role in a window; `machine` is every core's busy time, `other` what no role accounts for
    (Redis, other Postgres databases, anything else running on the machine)."""
    roles = set(before) | set(after)
    spent = {r: after.get(r, RoleUsage()).cpu_s - before.get(r, RoleUsage()).cpu_s for r in sorted(roles)}
    spent["other"] = spent.get("machine", 0.0) - sum(v for r, v in spent.items() if r != "machine")
    return {r: round(v, 2) for r, v in spent.items()}
