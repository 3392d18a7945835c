"""`llm_context.call_records` and `llm_context.webhooks`: what the bot keeps of a call, and whom it tells.

The credentials are not here: they come from the agent's secret set, i.e. the bot's environment
(`CALL_RECORDS_AWS_ACCESS_KEY_ID`, `CALL_RECORDS_AWS_SECRET_ACCESS_KEY`, optional `CALL_RECORDS_AWS_SESSION_TOKEN`,
and `WEBHOOK_SIGNING_SECRET`).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from agent_schema.fields import Matches, OneOf, StrictModel, Url

WEBHOOK_EVENTS = ("call.started", "call.ended", "transcript.ready")
# S3's bucket naming rules (3 to 63 characters; lower-case letters, digits, dots and hyphens; a letter or a
# digit at both ends)
BUCKET_PATTERN = r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$"
_PART = r"[A-Za-z0-9!_.*'()-]+"  # S3's "safe" key characters
PREFIX_PATTERN = rf"^(?:{_PART}(?:/{_PART})*)?$"
STORAGE_REGION_PATTERN = r"^[a-z0-9][a-z0-9-]*$"

Bucket = Annotated[
    str, Matches(BUCKET_PATTERN, "must be an S3 bucket name (3 to 63 of a-z, 0-9, '.', '-'; a-z or 0-9 at both ends)")
]
Prefix = Annotated[
    str,
    Field(max_length=200),
    Matches(PREFIX_PATTERN, "must be a key prefix such as 'voice/prod': A-Z, a-z, 0-9, !_.*'()- and '/' between parts"),
]
StorageRegion = Annotated[
    str, Field(max_length=63), Matches(STORAGE_REGION_PATTERN, "must be a region name such as us-east-1")
]
WebhookEvent = Annotated[str, OneOf("webhook event", WEBHOOK_EVENTS)]


class CallRecordsConfig(StrictModel):
    """Where the bot keeps each call (S3-compatible object storage)."""

    enabled: bool = Field(True, description="Store the call's records; `false` keeps the section but stores nothing.")
    bucket: Bucket = Field(description="The bucket (S3's naming rules).")
    prefix: Prefix = Field("", description="Key prefix before `agents/…`, without a `/` at either end; empty: none.")
    region: StorageRegion = Field("us-east-1", description="The bucket's region (`auto` for Cloudflare R2).")
    endpoint_url: Url | None = Field(
        None,
        description="An S3-compatible store's endpoint (MinIO, R2, …), https (http only to a loopback address); "
        "path-style addressing. Absent: Amazon S3.",
    )
    recording: bool = Field(
        False,
        description="Also store the call's audio: `recording.wav`, 16-bit stereo (caller left, agent right) at the "
        "transport's rate (8 kHz for Twilio, 24 kHz for Daily).",
    )
    keep_caller_number: bool = Field(
        False,
        description="Keep the caller's number as it is in `metadata.json` and the webhooks; `false`: masked to its "
        "last four digits (`+*******4567`). Logs always mask it.",
    )


class WebhookEndpoint(StrictModel):
    """One receiver of the call webhooks."""

    url: Url = Field(description="Where the events are POSTed: https (http only to a loopback address).")
    events: list[WebhookEvent] = Field(
        default=list(WEBHOOK_EVENTS),
        min_length=1,
        max_length=len(WEBHOOK_EVENTS),
        description="Which events it receives: `call.started`, `call.ended` (metadata, object keys, upload status), "
        "`transcript.ready` (the transcript).",
    )


class WebhooksConfig(StrictModel):
    """Who is told about each call (Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature`)."""

    endpoints: list[WebhookEndpoint] = Field(
        min_length=1, max_length=10, description="The receivers, each with its URL and events."
    )
