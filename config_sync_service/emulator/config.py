"""Emulator settings and fault injection, changeable at runtime through `/_emulator/faults`."""

from __future__ import annotations

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
