"""The engine's and the processor's settings: small frozen objects built once from `Settings`, so that a
component sees the knobs it uses and nothing else (each knob is documented where `Settings` declares it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from config_sync_service.core.config import Settings
from config_sync_service.db.history import Retention
from config_sync_service.schemas import agent_config


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """The processor's backoff after a transient error, and how many attempts before ERROR_SYNC."""

    base_delay_s: float
    max_delay_s: float
    max_attempts: int


@dataclass(frozen=True, slots=True)
class ProcessorConfig:
    lease_s: float
    agent_image: str  # for configurations that name none
    agent_region: str | None
    deploy_poll_interval_s: float
    deploy_timeout_s: float
    retry: RetryPolicy
    redeploy_min_interval_s: float = 0.0
    shared_secrets: Mapping[str, str] = field(default_factory=dict, repr=False)  # AGENT_SECRET_<KEY>

    @property
    def shared_digest(self) -> str:
        """A hash of the shared secrets: a change of them changes every agent's deployment hash."""
        return agent_config.digest(dict(self.shared_secrets))

    @classmethod
    def from_settings(cls, settings: Settings) -> ProcessorConfig:
        return cls(
            lease_s=settings.lease_s,
            agent_image=settings.agent_image,
            agent_region=settings.agent_region,
            deploy_poll_interval_s=settings.deploy_poll_interval_s,
            deploy_timeout_s=settings.deploy_timeout_s,
            retry=RetryPolicy(settings.retry_base_delay_s, settings.retry_max_delay_s, settings.retry_max_attempts),
            redeploy_min_interval_s=settings.redeploy_min_interval_s,
            shared_secrets={k: v.get_secret_value() for k, v in settings.agent_secrets.items()},
        )


@dataclass(frozen=True, slots=True)
class EngineConfig:
    max_concurrency: int
    reconcile_interval_s: float
    retry_budget_per_s: float
    retry_budget_burst: int
    secret_set_ready_timeout_s: float
    processor: ProcessorConfig
    history: Retention = field(default_factory=lambda: Retention(days=30.0, max_rows_per_agent=1000))
    history_prune_interval_s: float = 600.0

    @classmethod
    def from_settings(cls, settings: Settings) -> EngineConfig:
        return cls(
            max_concurrency=settings.max_concurrency,
            reconcile_interval_s=settings.reconcile_interval_s,
            retry_budget_per_s=settings.retry_budget_per_s,
            retry_budget_burst=settings.retry_budget_burst,
            secret_set_ready_timeout_s=settings.secret_set_ready_timeout_s,
            processor=ProcessorConfig.from_settings(settings),
            history=Retention(settings.history_retention_days, settings.history_max_rows_per_agent),
            history_prune_interval_s=settings.history_prune_interval_s,
        )
