"""A call's records in S3-compatible object storage, uploaded with aioboto3 (aiobotocore underneath).

Retries are botocore's own (standard mode: exponential backoff with jitter on connection errors, throttling and
5xx answers), each request bounded by the timeouts, and every object of a call by one deadline. A failed upload
is reported (in the logs and the `call.ended` webhook), never raised: the call is over by then.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aioboto3  # type: ignore[import-untyped]
from aiobotocore.config import AioConfig  # type: ignore[import-untyped]

from agent_bot import logs
from agent_schema import CallRecordsConfig

# the names of the secrets (environment variables) that hold the credentials
ACCESS_KEY_ENV = "CALL_RECORDS_AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "CALL_RECORDS_AWS_SECRET_ACCESS_KEY"  # noqa: S105
SESSION_TOKEN_ENV = "CALL_RECORDS_AWS_SESSION_TOKEN"  # noqa: S105


@dataclass(frozen=True)
class StoragePolicy:
    """How hard uploads are tried: `attempts` per request (botocore counts the first), each connect and read
    bounded, and every object of one call within `deadline_s` plus a second per `bytes_per_s` to send (a long
    call's recording is hundreds of megabytes)."""

    attempts: int = 4
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 30.0
    deadline_s: float = 60.0
    bytes_per_s: float = 1_000_000

    def deadline_for(self, size: int) -> float:
        return self.deadline_s + size / self.bytes_per_s


@dataclass(frozen=True)
class Item:
    """One object to store: its file name under the call's key, and its content (bytes, or a file on disk)."""

    name: str
    body: bytes | Path
    content_type: str

    @property
    def size(self) -> int:
        return self.body.stat().st_size if isinstance(self.body, Path) else len(self.body)


@dataclass(frozen=True)
class StoredObject:
    name: str
    key: str
    status: Literal["stored", "failed"]
    size: int | None = None
    error: str | None = None  # an error class and code: never a URL, a key or a credential

    def document(self) -> dict[str, Any]:
        return {"key": self.key, "status": self.status, "bytes": self.size, "error": self.error}


class StorageUnavailable(Exception):
    """The configuration asks for records, but they cannot be stored (no credentials)."""


class RecordStore:
    def __init__(self, config: CallRecordsConfig, credentials: Mapping[str, str | None], policy: StoragePolicy) -> None:
        self.config = config
        self.policy = policy
        self._credentials = dict(credentials)

    def __repr__(self) -> str:  # never the credentials
        return f"RecordStore(bucket={self.config.bucket!r}, endpoint_url={self.config.endpoint_url!r})"

    @classmethod
    def from_env(cls, config: CallRecordsConfig, environ: Mapping[str, str], policy: StoragePolicy) -> RecordStore:
        missing = [name for name in (ACCESS_KEY_ENV, SECRET_KEY_ENV) if not environ.get(name)]
        if missing:
            raise StorageUnavailable(f"{' and '.join(missing)} not set in the agent's secrets")
        credentials = {
            "aws_access_key_id": environ[ACCESS_KEY_ENV],
            "aws_secret_access_key": environ[SECRET_KEY_ENV],
            "aws_session_token": environ.get(SESSION_TOKEN_ENV) or None,
        }
        return cls(config, credentials, policy)

    def key(self, agent_id: str, call_id: str, name: str) -> str:
        """`<prefix>/agents/<agent_id>/calls/<call_id>/<name>` (no prefix: from `agents/`)."""
        return "/".join(part for part in (self.config.prefix, "agents", agent_id, "calls", call_id, name) if part)

    async def put_all(
        self, agent_id: str, call_id: str, groups: Sequence[Sequence[Item]], log_fields: Mapping[str, object]
    ) -> list[StoredObject]:
        """Store each group after the one before (its items at once), all within the deadline; one result per
        item, in order, and one log event each."""
        items = [item for group in groups for item in group]
        deadline = self.policy.deadline_for(sum(item.size for item in items))
        results: dict[str, StoredObject] = {}
        error = "not attempted"
        try:
            async with asyncio.timeout(deadline), self._client() as s3:
                for group in groups:
                    for done in await asyncio.gather(*(self._put(s3, agent_id, call_id, i) for i in group)):
                        results[done.name] = done
        except TimeoutError:
            error = f"TimeoutError: not stored within {deadline:.0f} s"
        except Exception as exc:  # the client itself could not be made (a malformed endpoint, say)
            error = describe(exc)
        stored = [
            results.get(i.name) or StoredObject(i.name, self.key(agent_id, call_id, i.name), "failed", error=error)
            for i in items
        ]
        for result in stored:
            if result.status == "stored":
                logs.call_event(logs.RECORD_STORED, f"stored {result.name}", log_fields, **result.document())
            else:
                message = f"{result.name} not stored: {result.error}"
                logs.call_event(logs.RECORD_FAILED, message, log_fields, level="ERROR", **result.document())
        return stored

    def _client(self) -> Any:
        endpoint = self.config.endpoint_url
        config = AioConfig(
            connect_timeout=self.policy.connect_timeout_s,
            read_timeout=self.policy.read_timeout_s,
            retries={"max_attempts": self.policy.attempts, "mode": "standard"},
            # S3-compatible stores (MinIO and its kind) address buckets by path
            s3={"addressing_style": "path"} if endpoint else None,
        )
        session = aioboto3.Session(region_name=self.config.region, **self._credentials)
        return session.client("s3", endpoint_url=endpoint, config=config)

    async def _put(self, s3: Any, agent_id: str, call_id: str, item: Item) -> StoredObject:
        key = self.key(agent_id, call_id, item.name)
        try:
            if isinstance(item.body, Path):
                await s3.upload_file(
                    str(item.body), self.config.bucket, key, ExtraArgs={"ContentType": item.content_type}
                )
                size = item.body.stat().st_size
            else:
                await s3.put_object(Bucket=self.config.bucket, Key=key, Body=item.body, ContentType=item.content_type)
                size = len(item.body)
        except Exception as exc:  # botocore's errors, OSError, timeouts: reported, never raised
            return StoredObject(item.name, key, "failed", error=describe(exc))
        return StoredObject(item.name, key, "stored", size=size)


def describe(exc: BaseException) -> str:
    """An error as its class and, for an S3 error answer, its code (`ClientError: AccessDenied`)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return f"{type(exc).__name__}: {code}" if code else type(exc).__name__
