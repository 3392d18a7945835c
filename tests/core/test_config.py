"""Settings: one clear line for a bad value, secrets hidden."""

from __future__ import annotations

import io
import json

import pytest

from config_sync_service.core.config import SettingsError, load_settings
from config_sync_service.core.logging import configure_logging, get_logger
from tests.helpers import config_sync

DSN = "postgresql://postgres@127.0.0.1:5432/test"


def test_missing_database_url_names_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DATABASE_URL", raising=False)
    with pytest.raises(SettingsError) as info:
        load_settings(_env_file=None)
    assert str(info.value) == "config-sync: setting DATABASE_URL is required"


@pytest.mark.parametrize("bad", ["mysql://root@localhost/db", "not a url", "postgresql://host:5432/"])
def test_malformed_database_url_is_one_line(bad: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(database_url=bad)
    message = str(info.value)
    assert message.startswith("config-sync: setting DATABASE_URL is invalid: must be a Postgres URL")
    assert "\n" not in message


def test_postgres_url_becomes_asyncpg() -> None:
    settings = load_settings(database_url=DSN)
    assert settings.database_url == "postgresql+asyncpg://postgres@127.0.0.1:5432/test"


def test_cli_prints_one_line_and_no_traceback() -> None:
    env = {"PATH": "/usr/bin:/bin", "DATABASE_URL": "mysql://nope", "HOME": "/tmp"}
    proc = config_sync("migrate", env=env)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "config-sync: setting DATABASE_URL is invalid: must be a Postgres URL such as "
        "postgresql://user@host:5432/dbname"
    ]
    assert "Traceback" not in proc.stderr


@pytest.mark.parametrize(
    ("variable", "value"),
    [("MAX_CONCURRENCY", "0"), ("LOG_FORMAT", "xml"), ("REDIS_URL", "http://x"), ("AGENT_IMAGE", "bot")],
)
def test_other_bad_values_name_their_variable(monkeypatch: pytest.MonkeyPatch, variable: str, value: str) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError, match=f"^config-sync: setting {variable} is invalid"):
        load_settings(database_url=DSN)


def test_agent_secrets_come_from_prefixed_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SECRET_AWS_ACCESS_KEY_ID", "AKIAEXAMPLE123")
    settings = load_settings(database_url=DSN)
    assert settings.agent_secrets["AWS_ACCESS_KEY_ID"].get_secret_value() == "AKIAEXAMPLE123"
    assert "AKIAEXAMPLE123" not in repr(settings)


def test_secrets_never_in_repr_or_logs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AGENT_SECRET_TWILIO_AUTH_TOKEN", "twilio-secret-value-42")
    settings = load_settings(database_url=DSN, pipecat_api_key="sk_private_abcdef", operator_token="op-token-xyz")
    text = repr(settings) + str(settings)
    for secret in ("sk_private_abcdef", "op-token-xyz", "twilio-secret-value-42"):
        assert secret not in text

    stream = io.StringIO()
    configure_logging(level="INFO", fmt="json", secret_values=settings.secret_values(), stream=stream)
    log = get_logger("test")
    log.info(
        "calling pipecat",
        url="https://x/v1/agents",
        header="Bearer sk_private_abcdef",
        api_key="sk_private_abcdef",
        detail={"authorization": "x", "nested": "op-token-xyz here"},
    )
    import logging

    logging.getLogger("httpx").warning("stdlib line with twilio-secret-value-42 inside")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    joined = stream.getvalue()
    for secret in ("sk_private_abcdef", "op-token-xyz", "twilio-secret-value-42"):
        assert secret not in joined
    assert lines[0]["api_key"] == "[REDACTED]"
    assert lines[0]["detail"]["authorization"] == "[REDACTED]"
    assert lines[0]["url"] == "https://x/v1/agents"
    assert lines[1]["logger"] == "httpx"


@pytest.mark.parametrize(
    ("image", "ok"),
    [
        ("repo:1.0", True),
        ("registry:5000/repo:tag", True),
        ("repo@sha256:" + "ab" * 32, True),
        ("repo:1.0@sha256:" + "ab" * 32, True),
        ("repo", False),
        ("registry:5000/repo", False),
        ("repo:", False),
        ("repo@sha256:abc", False),
    ],
)
def test_agent_image_follows_the_configurations_image_rule(image: str, ok: bool) -> None:
    """AGENT_IMAGE takes what a configuration's `deployment.image` takes: one image rule, agent_schema's."""
    if ok:
        assert load_settings(database_url=DSN, agent_image=image).agent_image == image
        return
    with pytest.raises(SettingsError) as info:
        load_settings(database_url=DSN, agent_image=image)
    assert str(info.value) == (
        "config-sync: setting AGENT_IMAGE is invalid: must name a tag or a digest (image:1.0, image@sha256:…)"
    )


@pytest.mark.parametrize("token", [None, "", "   "])
def test_a_required_operator_token_that_is_missing_stops_start_up(token: str | None) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(database_url=DSN, require_operator_token=True, operator_token=token)
    assert str(info.value) == (
        "config-sync: setting OPERATOR_TOKEN is required when REQUIRE_OPERATOR_TOKEN is true (it protects /status "
        "and the operator endpoints)"
    )


def test_the_operator_token_is_optional_unless_required(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPERATOR_TOKEN", raising=False)
    monkeypatch.delenv("REQUIRE_OPERATOR_TOKEN", raising=False)
    defaults = load_settings(database_url=DSN, _env_file=None)
    assert defaults.require_operator_token is False and defaults.operator_token is None
    settings = load_settings(database_url=DSN, require_operator_token=True, operator_token="op-token-xyz")
    assert settings.operator_token is not None and settings.operator_token.get_secret_value() == "op-token-xyz"


def test_every_command_refuses_to_start_without_a_required_operator_token() -> None:
    """The rule lives in the settings, so the CLI, `serve` (before gunicorn) and the app's lifespan all apply it."""
    unreachable = {"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0"}
    env = {"PATH": "/usr/bin:/bin", "HOME": "/tmp", "REQUIRE_OPERATOR_TOKEN": "true"} | unreachable
    for command in (["migrate"], ["serve"], ["dlq", "list"]):
        proc = config_sync(*command, env=env)
        assert proc.returncode == 2, (command, proc.stderr)
        assert proc.stderr.strip().splitlines() == [
            "config-sync: setting OPERATOR_TOKEN is required when REQUIRE_OPERATOR_TOKEN is true (it protects "
            "/status and the operator endpoints)"
        ]


async def test_the_app_refuses_to_start_without_a_required_operator_token(monkeypatch: pytest.MonkeyPatch) -> None:
    from config_sync_service.api.app import create_app
    from config_sync_service.core.config import get_settings

    monkeypatch.setenv("DATABASE_URL", "postgresql://postgres@127.0.0.1:1/none")  # never reached
    monkeypatch.setenv("REQUIRE_OPERATOR_TOKEN", "true")
    monkeypatch.setenv("PIPECAT_API_KEY", "sk_test")
    monkeypatch.delenv("OPERATOR_TOKEN", raising=False)
    get_settings.cache_clear()
    app = create_app()
    try:
        with pytest.raises(SettingsError, match=r"^config-sync: setting OPERATOR_TOKEN is required"):
            async with app.router.lifespan_context(app):
                pass
    finally:
        get_settings.cache_clear()


WHSEC = "whsec_" + "bm" * 20  # base64 of 30 bytes


@pytest.mark.parametrize(
    ("url", "secret", "error"),
    [
        ("http://hooks.example/x", None, "NOTIFY_WEBHOOK_SECRET is required when NOTIFY_WEBHOOK_URL is set"),
        ("http://hooks.example/x", "", "NOTIFY_WEBHOOK_SECRET is required when NOTIFY_WEBHOOK_URL is set"),
        ("http://hooks.example/x", "whsec_c2hvcnQ=", "NOTIFY_WEBHOOK_SECRET is invalid: must be whsec_ followed by"),
        (None, "not base64 !", "NOTIFY_WEBHOOK_SECRET is invalid: must be whsec_ followed by"),
    ],
)
def test_notifications_are_never_unsigned(url: str | None, secret: str | None, error: str) -> None:
    with pytest.raises(SettingsError) as info:
        load_settings(database_url=DSN, notify_webhook_url=url, notify_webhook_secret=secret)
    assert str(info.value).startswith(f"config-sync: setting {error}")
    assert secret is None or not secret or secret not in str(info.value)


def test_the_webhook_secret_is_a_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_WEBHOOK_URL", raising=False)
    settings = load_settings(
        database_url=DSN, notify_webhook_url="https://u:pw-in-url@hooks.example/x", notify_webhook_secret=WHSEC
    )
    assert WHSEC in settings.secret_values() and "pw-in-url" in settings.secret_values()
    assert WHSEC not in repr(settings) and "pw-in-url" not in repr(settings)
