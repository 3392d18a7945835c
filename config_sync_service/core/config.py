"""All settings of config-sync, read from the environment (and an optional `.env` file).

Every option is declared once, here, with its environment variable name and meaning. Keys and tokens are
`SecretStr`: they print as `**********` and reach the wire only through `.get_secret_value()`.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated, Any, Literal

from pydantic import AnyUrl, Field, SecretStr, ValidationError, ValidationInfo, field_validator
from pydantic_core import PydanticCustomError
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from agent_schema.deployment import Image
from config_sync_service.core.redaction import hide_url_password, url_password

AGENT_SECRET_PREFIX = "AGENT_SECRET_"  # noqa: S105  (a name prefix, not a secret)
DEFAULT_UPDATES_CHANNEL = "agent_config_updates"  # what backends publish on (config_sync_service.publisher)
DEFAULT_DLQ_KEY = "agent_config_updates_dlq"
_POSTGRES_DRIVERS = {"postgresql", "postgres", "postgresql+asyncpg"}
# not SecretStr: their passwords are hidden by __repr_args__
_URL_FIELDS = ("database_url", "redis_url", "notify_webhook_url")


class SettingsError(Exception):
    """A setting is missing or malformed; `str()` is one line that names the variable."""


class Settings(BaseSettings):
    """config-sync settings; each field's environment variable is its name in upper case."""

    model_config = SettingsConfigDict(env_file=".env", env_file_encoding="utf-8", extra="ignore")

    # --- connections -------------------------------------------------------------------------------------
    database_url: str = Field(
        description="DATABASE_URL: Postgres DSN; `postgresql://` is read as `postgresql+asyncpg://`."
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0", description="REDIS_URL: Redis for the updates channel and dead letters."
    )
    db_pool_size: Annotated[int, Field(ge=1, le=100)] = Field(
        10,
        description="DB_POOL_SIZE: connections kept open per process; at least MAX_CONCURRENCY + 2 (the sweep, "
        "probes), so that syncs under full load never open connections of their own.",
    )
    db_max_overflow: Annotated[int, Field(ge=0, le=100)] = Field(
        5, description="DB_MAX_OVERFLOW: extra connections a process may open under load."
    )

    # --- Pipecat Cloud -----------------------------------------------------------------------------------
    pipecat_api_url: AnyUrl = Field(
        AnyUrl("https://api.pipecat.daily.co/v1"),
        description="PIPECAT_API_URL: base of the REST API, ending in /v1.",
    )
    pipecat_api_key: SecretStr | None = Field(
        None, description="PIPECAT_API_KEY: private key (agents, secrets, sessions admin). Needed to serve."
    )
    pipecat_public_api_key: SecretStr | None = Field(
        None, description="PIPECAT_PUBLIC_API_KEY: public `pk_` key for the Session API (context updates)."
    )
    pipecat_connect_timeout_s: Annotated[float, Field(gt=0)] = Field(
        5.0, description="PIPECAT_CONNECT_TIMEOUT_S: TCP/TLS connect timeout per request."
    )
    pipecat_read_timeout_s: Annotated[float, Field(gt=0)] = Field(
        20.0, description="PIPECAT_READ_TIMEOUT_S: read timeout per request."
    )
    pipecat_http_attempts: Annotated[int, Field(ge=1, le=10)] = Field(
        3, description="PIPECAT_HTTP_ATTEMPTS: tries per request for transport errors, 5xx and 429 (client level)."
    )
    pipecat_max_requests_per_s: Annotated[float, Field(gt=0, le=10_000)] | None = Field(
        None,
        description="PIPECAT_MAX_REQUESTS_PER_S: requests per second to Pipecat Cloud for the whole deployment "
        "(every worker and pod, paced through Redis); unset: no limit but the pauses 429s ask for.",
    )
    agent_image: Image = Field(  # the rule of a configuration's `deployment.image`: one image rule
        "dailyco/pipecat-agent:latest",
        description="AGENT_IMAGE: bot image (with a tag or a digest) for configurations that name none.",
    )
    agent_region: str | None = Field(None, description="AGENT_REGION: region for new agents (org default).")
    pipecat_org: str | None = Field(
        None,
        description="PIPECAT_ORG: the Pipecat Cloud organization's name (the `org` that `pcc --config` shows); "
        "`config-sync twiml` routes a Twilio number to `{agent}.{org}`.",
    )
    secret_set_ready_timeout_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="SECRET_SET_READY_TIMEOUT_S: how long to wait for a secret set to become `ready`."
    )
    deploy_poll_interval_s: Annotated[float, Field(gt=0)] = Field(
        5.0, description="DEPLOY_POLL_INTERVAL_S: how often DEPLOYING agents are polled (the CLI uses 5 s)."
    )
    deploy_timeout_s: Annotated[float, Field(gt=0)] = Field(
        600.0, description="DEPLOY_TIMEOUT_S: a deployment not ready after this is an error (CLI: 600 s)."
    )
    redeploy_min_interval_s: Annotated[float, Field(ge=0)] = Field(
        2.0,
        description="REDEPLOY_MIN_INTERVAL_S: an agent's redeploys start at least this far apart; changes that "
        "arrive sooner reach live sessions at once and fold into one trailing redeploy (0: no throttle).",
    )

    # --- Redis names ---------------------------------------------------------------------------------------
    updates_channel: str = Field(
        DEFAULT_UPDATES_CHANNEL, description="UPDATES_CHANNEL: the Pub/Sub channel of change messages."
    )
    dlq_key: str = Field(DEFAULT_DLQ_KEY, description="DLQ_KEY: the dead-letter list.")
    dlq_max: Annotated[int, Field(ge=1)] = Field(10_000, description="DLQ_MAX: entries kept (LTRIM).")

    # --- engine ------------------------------------------------------------------------------------------
    max_concurrency: Annotated[int, Field(ge=1, le=1000)] = Field(
        8, description="MAX_CONCURRENCY: agents synced at once per process."
    )
    reconcile_interval_s: Annotated[float, Field(gt=0)] = Field(
        60.0, description="RECONCILE_INTERVAL_S: period of the drift sweep (±20 % jitter)."
    )
    lease_s: Annotated[float, Field(gt=0)] = Field(
        60.0, description="LEASE_S: how long a claim on an agent lasts before another process may take it."
    )
    retry_max_attempts: Annotated[int, Field(ge=1)] = Field(
        8,
        description="RETRY_MAX_ATTEMPTS: failed attempts in a row (at one version) before a dead letter; a "
        "transient error is then retried on at the capped backoff, a bug stops (internal_error).",
    )
    retry_base_delay_s: Annotated[float, Field(gt=0)] = Field(
        0.5, description="RETRY_BASE_DELAY_S: first backoff delay; doubles per attempt, with jitter."
    )
    retry_max_delay_s: Annotated[float, Field(gt=0)] = Field(
        30.0, description="RETRY_MAX_DELAY_S: cap of one backoff delay."
    )
    retry_budget_per_s: Annotated[float, Field(gt=0)] = Field(
        5.0, description="RETRY_BUDGET_PER_S: retries per second the whole process may spend (token bucket)."
    )
    retry_budget_burst: Annotated[int, Field(ge=1)] = Field(
        20, description="RETRY_BUDGET_BURST: retries that may be spent at once."
    )
    observe_interval_s: Annotated[float, Field(gt=0)] = Field(
        300.0,
        description="OBSERVE_INTERVAL_S: period of the full observation of Pipecat Cloud (±20 % jitter), taken by "
        "one process at a time; an observation asked for (a fenced or doubtful pass, a heal) runs within seconds.",
    )
    self_heal: bool = Field(
        True,
        description="SELF_HEAL: repair drifted and missing agents (backoff 2 s ×3, capped at 5 min, per agent); "
        "false: report them only.",
    )
    shutdown_grace_s: Annotated[float, Field(ge=0)] = Field(
        25.0, description="SHUTDOWN_GRACE_S: time in-flight syncs get to finish after SIGTERM."
    )

    # --- operations --------------------------------------------------------------------------------------
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field("INFO", description="LOG_LEVEL.")
    log_format: Literal["json", "console"] = Field(
        "json", description="LOG_FORMAT: `json` lines, or `console` for development."
    )
    # declared before OPERATOR_TOKEN: that field's validator reads it
    require_operator_token: bool = Field(
        False,
        description="REQUIRE_OPERATOR_TOKEN: refuse to start without OPERATOR_TOKEN (staging and prod set it).",
    )
    operator_token: SecretStr | None = Field(
        None,
        validate_default=True,
        description="OPERATOR_TOKEN: bearer token for /status and the operator endpoints; empty counts as unset.",
    )
    history_retention_days: Annotated[float, Field(gt=0)] = Field(
        30.0, description="HISTORY_RETENTION_DAYS: sync-history rows older than this are pruned."
    )
    history_max_rows_per_agent: Annotated[int, Field(ge=1)] = Field(
        1000, description="HISTORY_MAX_ROWS_PER_AGENT: each agent keeps at most its newest this many history rows."
    )
    history_prune_interval_s: Annotated[float, Field(gt=0)] = Field(
        600.0,
        description="HISTORY_PRUNE_INTERVAL_S: how often a sweep also prunes the history, the first time one "
        "interval after start (one process at a time, in batches of 5000 rows per rule).",
    )
    # declared before NOTIFY_WEBHOOK_SECRET: that field's validator reads it
    notify_webhook_url: AnyUrl | None = Field(
        None,
        description="NOTIFY_WEBHOOK_URL: receives signed events (Standard Webhooks) when an agent's sync fails, it "
        "drifts or goes missing, or the dead-letter list grows past NOTIFY_DLQ_THRESHOLD; one per incident.",
    )
    notify_webhook_secret: SecretStr | None = Field(
        None,
        validate_default=True,
        description="NOTIFY_WEBHOOK_SECRET: the signing secret (`whsec_` + base64 of 24 to 64 bytes); required "
        "with NOTIFY_WEBHOOK_URL (events are never sent unsigned).",
    )
    notify_dlq_threshold: Annotated[int, Field(ge=0)] = Field(
        100, description="NOTIFY_DLQ_THRESHOLD: dead-letter entries past which a `dead_letters.threshold` event goes."
    )
    agent_secrets: dict[str, SecretStr] = Field(
        default_factory=dict,
        description="AGENT_SECRET_<KEY>: shared bot secrets copied into every agent's secret set as <KEY>.",
    )

    @field_validator("database_url")
    @classmethod
    def _asyncpg_dsn(cls, value: str) -> str:
        try:
            url = make_url(value)
        except ArgumentError:
            url = None
        if url is None or url.drivername not in _POSTGRES_DRIVERS or not url.database:
            raise ValueError("must be a Postgres URL such as postgresql://user@host:5432/dbname")
        return url.set(drivername="postgresql+asyncpg").render_as_string(hide_password=False)

    @field_validator("redis_url")
    @classmethod
    def _redis_dsn(cls, value: str) -> str:
        if not value.startswith(("redis://", "rediss://", "unix://")):
            raise ValueError("must be a Redis URL such as redis://host:6379/0")
        return value

    @field_validator("operator_token")
    @classmethod
    def _operator_token_when_required(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if info.data.get("require_operator_token") and (value is None or not value.get_secret_value().strip()):
            raise PydanticCustomError(
                "required_when",
                "required when REQUIRE_OPERATOR_TOKEN is true (it protects /status and the operator endpoints)",
            )
        return value

    @field_validator("notify_webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        secret = value.get_secret_value() if value is not None else ""
        if not secret:
            if info.data.get("notify_webhook_url") is not None:
                raise PydanticCustomError("required_when", "required when NOTIFY_WEBHOOK_URL is set")
            return None
        try:
            key = base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if not 24 <= len(key) <= 64:  # what the Standard Webhooks specification asks of a key
            raise ValueError("must be whsec_ followed by the base64 of 24 to 64 bytes")
        return value

    @property
    def pipecat_api_base(self) -> str:
        return str(self.pipecat_api_url).rstrip("/")

    def secret_values(self) -> list[str]:
        """Every configured secret value, for redaction: keys, tokens, shared bot secrets, the URLs' passwords."""
        found = [self.pipecat_api_key, self.pipecat_public_api_key, self.operator_token, self.notify_webhook_secret]
        found += list(self.agent_secrets.values())
        values = [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
        notify = url_password(str(self.notify_webhook_url)) if self.notify_webhook_url is not None else []
        return values + url_password(self.database_url) + url_password(self.redis_url) + notify

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        """As pydantic's, with the URLs' passwords hidden (DATABASE_URL, REDIS_URL, NOTIFY_WEBHOOK_URL; the other
        secrets are SecretStr)."""
        for name, value in super().__repr_args__():
            if name in _URL_FIELDS and value is not None:
                value = hide_url_password(str(value))
            yield name, value


def _agent_secrets_from_env(environ: dict[str, str]) -> dict[str, SecretStr]:
    return {
        key.removeprefix(AGENT_SECRET_PREFIX): SecretStr(value)
        for key, value in environ.items()
        if key.startswith(AGENT_SECRET_PREFIX) and len(key) > len(AGENT_SECRET_PREFIX)
    }


def load_settings(**overrides: object) -> Settings:
    """Read the settings; a bad value raises `SettingsError` with one line naming the variable."""
    overrides.setdefault("agent_secrets", _agent_secrets_from_env(dict(os.environ)))
    try:
        return Settings(**overrides)  # type: ignore[arg-type]
    except ValidationError as exc:
        error = exc.errors()[0]
        variable = "_".join(str(p) for p in error["loc"]).upper() or "settings"
        message = str(error["msg"]).removeprefix("Value error, ")
        problems = {"missing": "is required", "required_when": f"is {message}"}  # required_when: "required when …"
        problem = problems.get(error["type"], f"is invalid: {message}")
        more = f" (and {len(exc.errors()) - 1} more)" if len(exc.errors()) > 1 else ""
        raise SettingsError(f"config-sync: setting {variable} {problem}{more}") from None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process's settings, read once."""
    return load_settings()
