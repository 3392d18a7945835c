"""The bot tests' S3 API server: moto's server mode on loopback, started once for the bot tests and stopped after
them; each test gets a bucket of its own, emptied and removed after it, whatever the outcome."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.agent_bot.records_support import S3Server, s3_server


@pytest.fixture(scope="session")
def s3() -> Iterator[S3Server]:
    with s3_server() as server:
        yield server


@pytest.fixture
def bucket(s3: S3Server) -> Iterator[str]:
    name = s3.bucket()
    try:
        yield name
    finally:
        s3.empty(name)
