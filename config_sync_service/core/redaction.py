"""Keeping secrets out of everything config-sync writes or shows: logs, errors, dead letters, /status, the CLI.

One redactor. It hides
- fields whose name says secret, in any spelling (`secretAccessKey`, `auth_token`, `X-Api-Key`, `credentials`);
- every known secret value: the settings' own (`Settings.secret_values()`, set once by `configure`), and, inside a
  `scope`, the values of the secret set the current pass writes (an agent's own secrets). Values of
  `SHORT_SECRET` characters or more are redacted wherever they appear; shorter ones only as whole tokens (not
  next to a letter, digit or `_`), so that a secret `x7` hides `token=x7` but leaves `ax7b` alone;
- bearer tokens and the password of any URL (`scheme://user:password@host`).
Values are also hidden in the form JSON quotes them in (an error body that echoes the request).
Overlapping secrets are hidden as one span, so no piece of either is left behind. Cut text only after scrubbing it
(`excerpt`): a secret across the cut would otherwise leak its start.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any
from urllib.parse import quote, quote_plus, unquote, urlsplit

REDACTED = "[REDACTED]"
SHORT_SECRET = 4  # values shorter than this are redacted only as whole tokens
_SECRET_WORDS = frozenset(
    {
        "key",
        "apikey",
        "token",
        "secret",
        "secrets",
        "password",
        "passwd",
        "pwd",
        "passphrase",
        "auth",
        "authorization",
        "credential",
        "credentials",
        "cookie",
    }
)
_WORDS = re.compile(r"[A-Z]+(?![a-z])|[A-Z]?[a-z]+|\d+")  # camelCase, PascalCase, snake_case, kebab-case
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s'\"]+")
_URL_PASSWORD = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://[^\s:/@]*:)[^\s@/]+@")


def is_secret_name(name: str) -> bool:
    """A field whose value is never shown: one of its words is key, token, secret(s), password, auth, credentials…"""
    return any(word.lower() in _SECRET_WORDS for word in _WORDS.findall(name))


def url_password(url: str) -> list[str]:
    """The password of a URL as written in it and decoded (both may appear in an error), or nothing."""
    try:
        netloc = urlsplit(url).netloc
    except ValueError:
        return []
    userinfo, at, _ = netloc.rpartition("@")
    _, colon, password = userinfo.partition(":")
    if not (at and colon and password):
        return []
    return sorted({password, unquote(password)})


def hide_url_password(url: str) -> str:
    """The URL with its password replaced by `[REDACTED]` (what a repr of the settings shows)."""
    return _URL_PASSWORD.sub(r"\1" + REDACTED + "@", url)


@lru_cache(maxsize=512)
def _whole_token(value: str) -> re.Pattern[str]:
    return re.compile(rf"(?<!\w){re.escape(value)}(?!\w)")


def _spans(text: str, values: Iterable[str]) -> Iterator[tuple[int, int]]:
    for value in values:
        if len(value) < SHORT_SECRET:
            yield from (m.span() for m in _whole_token(value).finditer(text))
            continue
        start = text.find(value)
        while start != -1:
            yield start, start + len(value)
            start = text.find(value, start + 1)


def _hide(text: str, values: Iterable[str]) -> str:
    """Every occurrence of every value replaced; overlapping or touching occurrences become one `[REDACTED]`."""
    merged: list[list[int]] = []
    for start, stop in sorted(_spans(text, values)):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], stop)
        else:
            merged.append([start, stop])
    parts, kept_from = [], 0
    for start, stop in merged:
        parts += [text[kept_from:start], REDACTED]
        kept_from = stop
    parts.append(text[kept_from:])
    return "".join(parts)


def _forms(values: Iterable[str]) -> set[str]:
    """Each value as it is, as JSON quotes it (an error body that echoes a request shows the quoted form) and as a
    URL encodes it (an access log line of a request that carried it in its query)."""
    found = set()
    for value in values:
        if value.strip():  # a blank value would hide blanks all over the text
            found |= {value, json.dumps(value)[1:-1], json.dumps(value, ensure_ascii=False)[1:-1]}
            found |= {quote(value, safe=""), quote_plus(value, safe="")}
    return found


# the secret values of one agent's work (the secret set its passes write), redacted until the scope ends; a set
# shared by reference with the tasks the work starts (they copy the context, not the set)
_scope: ContextVar[set[str] | None] = ContextVar("config_sync_redaction_scope", default=None)


@contextlib.contextmanager
def scope(values: Iterable[str] = ()) -> Iterator[None]:
    """Redact `values` too, in this task and the tasks it starts, until the outermost scope ends.

    A scope inside another adds to it: the engine opens one per agent it works on, so a pass's secrets are still
    hidden when the engine records a crash of that pass after the pass itself has ended.
    """
    active = _scope.get()
    token = None
    if active is None:
        active = set()
        token = _scope.set(active)
    active |= _forms(str(v) for v in values)
    try:
        yield
    finally:
        if token is not None:
            _scope.reset(token)


class SecretRedactor:
    """Hides secret-named fields and every known secret value wherever they appear (see the module docstring)."""

    def __init__(self, secret_values: Iterable[str] = ()) -> None:
        self.secret_values = frozenset(_forms(secret_values))

    def scrub_text(self, text: str) -> str:
        current = _scope.get()
        values = self.secret_values | current if current else self.secret_values
        text = _hide(text, values)
        return hide_url_password(_BEARER.sub(r"\1" + REDACTED, text))

    def scrub(self, value: Any) -> Any:
        if isinstance(value, str):
            return self.scrub_text(value)
        if isinstance(value, Mapping):
            return {
                k: REDACTED if isinstance(k, str) and is_secret_name(k) else self.scrub(v) for k, v in value.items()
            }
        if isinstance(value, list | tuple):
            return [self.scrub(v) for v in value]
        return value


_redactor = SecretRedactor()


def configure(secret_values: Iterable[str]) -> SecretRedactor:
    """Set the process's known secret values (the settings'); returns the redactor the log pipeline uses."""
    global _redactor
    _redactor = SecretRedactor(secret_values)
    return _redactor


def scrub(value: Any) -> Any:
    """`value` with every secret hidden (strings, and mappings and lists of them, recursively)."""
    return _redactor.scrub(value)


def excerpt(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, scrubbed first: a secret across the cut cannot leak its start."""
    scrubbed: str = _redactor.scrub_text(text)
    return scrubbed[:limit]
