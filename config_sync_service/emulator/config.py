"""Emulator settings and fault injection (changeable at runtime through `/_emulator/faults`), and its two network
rules: it binds to loopback only unless told otherwise, and forwards Session API calls to loopback bots only."""

from __future__ import annotations

import ipaddress

import httpx
from pydantic import BaseModel, Field

DEFAULT_PRIVATE_KEY = "sk_emulator_private"
DEFAULT_PUBLIC_KEY = "pk_emulator_public"


class Faults(BaseModel):
    """What goes wrong, and how often. Operation names: createService, updateService, getService, … or `*`."""

    latency_ms: float = Field(0.0, ge=0, description="Added to every answer.")
    latency_jitter_ms: float = Field(0.0, ge=0, description="Uniform extra latency.")
    op_latency_s: dict[str, float] = Field(default_factory=dict, description="Extra latency per operation.")
    error_rate: dict[str, float] = Field(default_factory=dict, description="Fraction of 5xx answers per operation.")
    error_statuses: list[int] = Field(default_factory=lambda: [500, 502, 503])
    rate_429: dict[str, float] = Field(default_factory=dict, description="Fraction of 429 answers per operation.")
    retry_after_s: int = Field(1, ge=0, description="Retry-After of injected and rate-limit 429s.")
    rate_limit_per_s: float | None = Field(None, gt=0, description="Requests per second before 429 (token bucket).")
    hang_s: dict[str, float] = Field(default_factory=dict, description="Sleep this long before answering.")
    fail_next: dict[str, list[int]] = Field(
        default_factory=dict, description="The next calls of an operation answer these statuses, in order."
    )
    delay_next: dict[str, list[float]] = Field(
        default_factory=dict,
        description="The next calls of an operation are held this many seconds each, in order, before they are "
        "handled (a call in flight: what a stale process's request looks like).",
    )
    echo_request: bool = Field(
        False,
        description="Injected 4xx answers quote the request body in their error, as a validation error that names "
        "the offending value would (what config-sync must redact).",
    )
    seed: int | None = Field(None, description="Makes random faults repeatable.")


class EmulatorConfig(BaseModel):
    private_keys: list[str] = Field(default_factory=lambda: [DEFAULT_PRIVATE_KEY])
    public_keys: list[str] = Field(default_factory=lambda: [DEFAULT_PUBLIC_KEY])
    deploy_delay_s: float = Field(1.0, ge=0, description="Time from deploy to an Active revision.")
    secret_ready_delay_s: float = Field(0.2, ge=0, description="Time from a secret set upsert to `ready`.")
    default_region: str = "us-west"
    faults: Faults = Field(default_factory=Faults)
    # set in-process (tests that check what reached the secret set) or by `config-sync emulator
    # --reveal-secret-values`; no HTTP control changes it
    reveal_secret_values: bool = Field(
        False, description="Show recorded secret values in /_emulator/calls and /_emulator/secrets (else redacted)."
    )


def is_loopback(host: str) -> bool:
    """`localhost`, or an address in 127.0.0.0/8 or ::1; never a name that DNS could point anywhere."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_bind(host: str, *, allow_remote: bool) -> None:
    """ValueError unless the emulator may listen on `host`: its controls are unauthenticated."""
    if not allow_remote and not is_loopback(host):
        raise ValueError(
            f"the emulator binds to loopback only and {host} is not; pass --allow-remote to bind it anyway "
            "(its controls are unauthenticated)"
        )


def check_bot_url(url: str) -> None:
    """ValueError unless `url` is an http(s) URL on loopback: the emulator forwards Session API calls there, so any
    other target (a cloud metadata address, the local network) would make it a proxy for whoever can reach it."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not is_loopback(parsed.host):
        raise ValueError(f"a bot's URL must be http(s) on loopback (127.0.0.0/8, ::1, localhost), not {url!r}")
