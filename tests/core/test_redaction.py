"""The one redactor (issue 19): secret-named fields in any spelling, every known value however short, the passwords
of DATABASE_URL and REDIS_URL, messages scrubbed before they are cut."""

from __future__ import annotations

import asyncio
import io
import json

import pytest
import typer

from config_sync_service.cli.common import friendly_errors
from config_sync_service.core import redaction
from config_sync_service.core.config import load_settings
from config_sync_service.core.logging import configure_logging, get_logger, is_secret_name, scrub

DB_PASSWORD = "pg-pass-4f1e"
REDIS_PASSWORD = "redis-pass-c9a2"
DSN = f"postgresql://config_sync:{DB_PASSWORD}@db.internal:5432/config_sync"
REDIS = f"redis://default:{REDIS_PASSWORD}@cache.internal:6379/0"


@pytest.fixture(autouse=True)
def _restore_logging(restore_logging: None) -> None:
    """Every test here configures logging."""


@pytest.mark.parametrize(
    "name",
    [
        "secretAccessKey",
        "secret_access_key",
        "AWS_SECRET_ACCESS_KEY",
        "authToken",
        "auth_token",
        "accessKeyId",
        "access_key_id",
        "privateKey",
        "private_key",
        "secrets",
        "secretValue",
        "secret_value",
        "credentials",
        "Credentials",
        "X-Api-Key",
        "apiKey",
        "APIKey",
        "authorization",
        "password",
        "dbPassword",
    ],
)
def test_secret_names_in_any_spelling(name: str) -> None:
    assert is_secret_name(name)
    assert scrub({name: "some value", "nested": [{name: {"deep": "x"}}]}) == {
        name: "[REDACTED]",
        "nested": [{name: "[REDACTED]"}],
    }


@pytest.mark.parametrize(
    "name", ["agent_id", "url", "reason", "error_class", "change_type", "keyboard", "monkey", "tokenizer", "event"]
)
def test_other_names_are_kept(name: str) -> None:
    assert not is_secret_name(name)


def test_short_secret_values_are_redacted_as_whole_tokens() -> None:
    """A two-character secret is redacted where it stands alone, not inside other words (`x7` in `ax7b` stays)."""
    configure_logging(secret_values=["x7", "Q", "abc-secret-long"])
    assert scrub("key x7 rejected") == "key [REDACTED] rejected"
    assert scrub('{"token": "x7"}') == '{"token": "[REDACTED]"}'
    assert scrub("token=x7;") == "token=[REDACTED];"
    assert scrub("ax7b and x7y and 9x7") == "ax7b and x7y and 9x7"
    assert scrub("Q: a Quiet Queue") == "[REDACTED]: a Quiet Queue"
    assert scrub("abc-secret-long!") == "[REDACTED]!"


def test_a_url_encoded_secret_is_redacted() -> None:
    """An access log line of `/ui?token=…` shows the token as a URL encodes it."""
    configure_logging(secret_values=["s3cr+t/tok=en"])
    assert scrub('"GET /ui?token=s3cr%2Bt%2Ftok%3Den HTTP/1.1" 303') == '"GET /ui?token=[REDACTED] HTTP/1.1" 303'
    assert scrub("token=s3cr%2Bt%2Ftok%3Den&x=1") == "token=[REDACTED]&x=1"


def test_overlapping_secrets_leave_no_piece_behind() -> None:
    configure_logging(secret_values=["abcd1234", "1234wxyz"])
    assert scrub("--abcd1234wxyz--") == "--[REDACTED]--"


async def test_a_scope_hides_its_values_in_its_tasks_until_the_outermost_scope_ends() -> None:
    """What the engine and a pass use: the pass adds the agent's secrets, the engine's scope keeps them until the
    agent's work (and a crash's record of it) is over. Values are hidden as JSON quotes them too."""
    configure_logging(secret_values=["settings-secret"])
    quoted = 'pa"ss\\wörd'
    with redaction.scope():
        with redaction.scope(["own-secret-1", quoted]):
            pass  # the pass ended; its values stay hidden in the outer scope
        echoed = json.dumps({"secretValue": quoted})
        in_a_task = await asyncio.create_task(_scrub(f"own-secret-1 {echoed} settings-secret"))
        assert in_a_task == '[REDACTED] {"secretValue": "[REDACTED]"} [REDACTED]'
    assert scrub("own-secret-1 settings-secret") == "own-secret-1 [REDACTED]"


async def _scrub(text: str) -> str:
    return str(scrub(text))


def test_url_passwords_never_print_in_repr_logs_or_cli_errors(capsys: pytest.CaptureFixture[str]) -> None:
    settings = load_settings(database_url=DSN, redis_url=REDIS)
    assert DB_PASSWORD in settings.database_url  # the connection needs it
    for text in (repr(settings), str(settings)):
        assert DB_PASSWORD not in text and REDIS_PASSWORD not in text
        assert "db.internal" in text and "cache.internal" in text  # the rest of the URLs stays readable

    stream = io.StringIO()
    configure_logging(fmt="json", secret_values=settings.secret_values(), stream=stream)
    get_logger("test").warning("db.unreachable", error=f"cannot connect to {settings.database_url}", url=REDIS)
    get_logger("test").warning(f"password {DB_PASSWORD} rejected; {REDIS_PASSWORD} too")
    logged = stream.getvalue()
    assert DB_PASSWORD not in logged and REDIS_PASSWORD not in logged
    record = json.loads(logged.splitlines()[0])
    assert (
        record["error"] == "cannot connect to postgresql+asyncpg://config_sync:[REDACTED]@db.internal:5432/config_sync"
    )

    with pytest.raises(typer.Exit), friendly_errors():
        raise OSError(f"connect to {settings.database_url} failed; redis {settings.redis_url}")
    err = capsys.readouterr().err
    assert err.startswith("config-sync: OSError: connect to postgresql+asyncpg://config_sync:[REDACTED]@db.internal")
    assert DB_PASSWORD not in err and REDIS_PASSWORD not in err


def test_url_passwords_that_need_quoting_never_print() -> None:
    settings = load_settings(database_url="postgresql://u:p%40ss%2Fw0rd@h:5432/db", redis_url="redis://:r%25pw9@h:1/0")
    stream = io.StringIO()
    configure_logging(secret_values=settings.secret_values(), stream=stream)
    get_logger("test").error("failed", detail="auth p@ss/w0rd and r%pw9 refused")
    assert "p@ss/w0rd" not in stream.getvalue() and "r%pw9" not in stream.getvalue()
    assert "p%40ss" not in repr(settings) and "r%25pw9" not in repr(settings)
