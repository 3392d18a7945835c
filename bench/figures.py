"""The table's rows: each scenario's figures in both modes, the ratio between them, the target and whether it is met.

Ratios say how many times better the engine is than the sequential mode: sequential ÷ engine for times, calls and
CPU, engine ÷ sequential for rates. A wait that was cut short (`converged: false`) shows as "> timeout".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.scenarios import CALLS_PER_FULL_SYNC

Results = dict[str, dict[str, Any]]  # scenario → mode → figures


@dataclass
class Row:
    scenario: str
    figure: str
    engine: str
    sequential: str
    ratio: str
    target: str
    met: str

    def as_dict(self) -> dict[str, str]:
        return dict(self.__dict__)


def _get(figures: dict[str, Any] | None, *path: str) -> Any:
    value: Any = figures
    for key in path:
        value = value.get(key) if isinstance(value, dict) else None
    return value


def _num(value: Any, digits: int = 1) -> str:
    return "–" if value is None else f"{value:,.{digits}f}"


def _ratio(better: Any, worse: Any) -> str:
    """How many times better the engine is (`worse` / `better`, both "lower is better")."""
    if not better or worse is None:
        return "–"
    return f"{worse / better:,.1f}×"


def _met(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "MISSED")


def rows(results: Results, full: dict[str, int], knobs: dict[str, Any]) -> list[Row]:
    out: list[Row] = []
    out += _latency_rows(results.get("latency", {}))
    out += _burst_rows(results.get("burst", {}))
    out += _throttled_rows(results.get("throttled", {}), full, knobs)
    out += _recovery_rows(results.get("recovery", {}))
    out += _cost_rows(results)
    return out


def _pcts(figures: dict[str, Any] | None, key: str) -> str:
    p = _get(figures, key) or {}
    return "/".join(_num(p.get(k), 0) for k in ("p50", "p95", "p99")) if p else "–"


def _latency_rows(modes: dict[str, Any]) -> list[Row]:
    engine, seq = modes.get("engine"), modes.get("sequential")
    found: list[Row] = []
    for key, label, target in (
        ("to_context_ms", "PUBLISH → context at both sessions, p50/p95/p99 ms", 50.0),
        ("to_deploying_ms", "PUBLISH → status DEPLOYING, p50/p95/p99 ms", 50.0),
        ("to_synced_ms", "PUBLISH → status SYNCED, p50/p95/p99 ms", None),
    ):
        p99 = _get(engine, key, "p99")
        found.append(
            Row(
                "1 latency",
                label,
                _pcts(engine, key),
                _pcts(seq, key),
                _ratio(p99, _get(seq, key, "p99")),
                f"p99 ≤ {target:.0f} ms" if target else "— (includes the deploy delay)",
                _met(None if target is None or p99 is None else p99 <= target),
            )
        )
    return found


@dataclass
class Convergence:
    """A convergence figure for the table: seconds, or "> timeout (k/n SYNCED)" when the wait was cut."""

    text: str
    seconds: float | None  # None when not converged
    floor: float | None  # the time, or the timeout it is known to exceed
    rate: float | None  # agents per second (SYNCED by the timeout ÷ timeout when not converged)


def _convergence(figures: dict[str, Any] | None) -> Convergence:
    if not figures or "agents" not in figures:
        return Convergence("–", None, None, None)
    seconds = figures.get("converged_s")
    if figures.get("converged") and seconds:
        return Convergence(_num(seconds), seconds, seconds, figures["agents"] / seconds)
    synced, timeout = figures["status_counts"].get("SYNCED", 0), figures.get("timeout_s") or 0.0
    rate = synced / timeout if timeout else None
    return Convergence(f"> {timeout:.0f} ({synced}/{figures['agents']} SYNCED)", None, timeout or None, rate)


def _speedup(engine: Convergence, seq_s: float | None) -> tuple[str, bool | None]:
    """The engine's speed-up over the sequential mode, and whether it is ≥ 10×."""
    if seq_s is None or not engine.floor:
        return "–", None
    ratio = seq_s / engine.floor
    return (f"{ratio:,.1f}×" if engine.seconds else f"< {ratio:,.1f}×"), ratio >= 10


def _converged_row(scenario: str, figure: str, engine: Any, seq: Any, *, limit_s: float) -> Row:
    """Time to converge against its target: within `limit_s` and at least 10× the sequential mode."""
    conv, seq_conv = _convergence(engine), _get(seq, "extrapolated", "converged_s")
    speedup, tenfold = _speedup(conv, seq_conv)
    in_time = None if engine is None else conv.seconds is not None and conv.seconds <= limit_s
    return Row(
        scenario,
        figure,
        conv.text,
        f"~{_num(seq_conv)}",
        speedup,
        f"≤ {limit_s:g} s; ≥ 10×",
        _met(None if in_time is None else in_time and bool(tenfold)),
    )


def _rate_row(scenario: str, engine: Any, seq: Any) -> Row:
    conv, seq_conv = _convergence(engine), _get(seq, "extrapolated", "converged_s")
    speedup, _ = _speedup(conv, seq_conv)
    seq_rate = _get(seq, "extrapolated", "agents_per_s")
    return Row(scenario, "agents per second", _num(conv.rate), f"~{_num(seq_rate, 2)}", speedup, "—", "n/a")


def _burst_rows(modes: dict[str, Any]) -> list[Row]:
    engine, seq = modes.get("engine"), modes.get("sequential")
    dep, seq_dep = _get(engine, "deployments_per_agent") or {}, _get(seq, "deployments_per_agent") or {}
    calls, seq_calls = _get(engine, "calls_per_agent"), _get(seq, "calls_per_agent")
    return [
        _converged_row("2 burst", "converged, s", engine, seq, limit_s=10),
        _rate_row("2 burst", engine, seq),
        Row("2 burst", "Pipecat calls per agent", _num(calls), _num(seq_calls), _ratio(calls, seq_calls), "—", "n/a"),
        Row(
            "2 burst",
            "deployments per agent, mean/max",
            f"{_num(dep.get('mean'), 2)}/{dep.get('max', '–')}",
            f"{_num(seq_dep.get('mean'), 2)}/{seq_dep.get('max', '–')}",
            _ratio(dep.get("mean"), seq_dep.get("mean")),
            "≤ 2",
            _met(None if not dep else dep["max"] <= 2),
        ),
    ]


def _share(figures: dict[str, Any] | None) -> tuple[str, float | None]:
    calls = _get(figures, "pipecat_calls")
    if not calls:
        return "–", None
    share = figures["rate_limited"] / calls * 100 if figures else 0.0
    return f"{figures['rate_limited'] if figures else 0} of {calls} ({share:.1f} %)", share


def _throttled_rows(modes: dict[str, Any], full: dict[str, int], knobs: dict[str, Any]) -> list[Row]:
    engine, seq = modes.get("engine"), modes.get("sequential")
    bound = CALLS_PER_FULL_SYNC * full["throttled_agents"] / knobs["throttle_rate_per_s"]
    conv, seq_conv = _convergence(engine), _get(seq, "extrapolated", "converged_s")
    speedup, _ = _speedup(conv, seq_conv)
    over = None if conv.floor is None else (conv.floor / bound - 1) * 100
    over_text = "–" if over is None else (f"{over:.1f}" if conv.seconds else f"> {over:.0f}")
    within = None if over is None else conv.seconds is not None and over <= 5
    (text, share), (seq_text, _) = _share(engine), _share(seq)
    calls, seq_calls = _get(engine, "calls_per_agent"), _get(seq, "calls_per_agent")
    return [
        Row(
            "3 throttled",
            f"converged, s (lower bound {bound:.0f} s)",
            conv.text,
            f"~{_num(seq_conv)}",
            speedup,
            f"≤ {bound * 1.05:.0f} s (bound + 5 %)",
            _met(within),
        ),
        Row("3 throttled", "over the lower bound, %", over_text, "–", "–", "≤ 5 %", _met(within)),
        Row(
            "3 throttled",
            "429s received (of all calls)",
            text,
            seq_text,
            "–",
            "≤ 1 %",
            _met(None if share is None else share <= 1),
        ),
        Row(
            "3 throttled",
            "Pipecat calls per agent",
            _num(calls),
            _num(seq_calls),
            "–",
            f"≥ {CALLS_PER_FULL_SYNC}",
            "n/a",
        ),
        _observation_row("3 throttled", engine, seq),
    ]


def _observation_row(scenario: str, engine: Any, seq: Any) -> Row:
    """DESIGN §13: observation takes at most a tenth of the calls when a rate is set."""
    share, seq_share = _get(engine, "observation_share"), _get(seq, "observation_share")
    text = "–" if share is None else f"{share * 100:.1f}"
    seq_text = "–" if seq_share is None else f"{seq_share * 100:.1f}"
    return Row(
        scenario,
        "Pipecat calls made by observation, %",
        text,
        seq_text,
        "–",
        "≤ 10 %",
        _met(None if share is None else share <= 0.10),
    )


def _recovery_rows(modes: dict[str, Any]) -> list[Row]:
    engine, seq = modes.get("engine"), modes.get("sequential")
    return [
        _converged_row("4 recovery", "converged from daemon start, s", engine, seq, limit_s=30),
        Row(
            "4 recovery",
            "of which start to first Pipecat call, s",
            _num(_get(engine, "start_to_first_call_s")),
            _num(_get(seq, "start_to_first_call_s")),
            "–",
            "—",
            "n/a",
        ),
        _rate_row("4 recovery", engine, seq),
        _observation_row("4 recovery", engine, seq),
    ]


def _cost_rows(results: Results) -> list[Row]:
    modes = results.get("cost", {})
    engine, seq = modes.get("engine"), modes.get("sequential")
    rss = _get(engine, "peak_rss_mb_max")
    found = [
        Row(
            "5 cost",
            "peak RSS per worker, MB (max)",
            _num(rss),
            _num(_get(seq, "peak_rss_mb_max")),
            "–",
            "≤ 150 MB",
            _met(None if rss is None else rss <= 150),
        ),
    ]
    cpu = _get(results.get("recovery"), "engine", "cpu_s")
    if cpu:
        roles = ("workers", "emulator", "postgres", "driver", "other")
        found.append(
            Row(
                "5 cost",
                "CPU s in scenario 4: workers/emulator/Postgres/driver/other",
                "/".join(f"{cpu.get(r, 0.0):.0f}" for r in roles),
                "–",
                "–",
                f"(of {cpu['machine']:.0f} s busy)",
                "n/a",
            )
        )
    for name in ("recovery", "burst", "throttled"):
        e = _get(results.get(name), "engine", "worker_cpu_s_per_1000_syncs")
        s = _get(results.get(name), "sequential", "worker_cpu_s_per_1000_syncs")
        if e is not None or s is not None:
            target, met = ("≤ 7 s", _met(None if e is None else e <= 7)) if name == "recovery" else ("—", "n/a")
            label = f"worker CPU s per 1,000 agent syncs ({name})"
            found.append(Row("5 cost", label, _num(e), _num(s), _ratio(e, s), target, met))
    return found
