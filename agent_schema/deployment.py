"""`deployment`: how Pipecat Cloud runs the agent (image, size, scaling, region, audio filter, session cap)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import ConfigDict, Field, JsonValue, ValidationInfo, field_validator

from agent_schema.fields import Matches, StrictModel

_DIGEST = r"@[a-z0-9]+(?:[+._-][a-z0-9]+)*:[0-9a-fA-F]{32,}"
# registry/path components, then the name, then a tag, a digest or both (Docker's reference grammar, loosely)
IMAGE_PATTERN = rf"^(?:[^\s/@]+/)*[^\s/:@]+(?::[A-Za-z0-9_][A-Za-z0-9_.-]{{0,127}}(?:{_DIGEST})?|{_DIGEST})$"
# Pipecat Cloud's secret set names: DNS subdomain style, 3-63 characters
SET_NAME_PATTERN = r"^(?=.{3,63}$)[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$"
PROFILE_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
REGION_PATTERN = r"^[a-z0-9][a-z0-9-]*$"
MIN_SESSION_S, MAX_SESSION_S = 60, 14400  # Pipecat Cloud's bounds of max_session_duration
DEFAULT_SESSION_S = 7200  # its cap when none is set
MAX_INSTANCES = 50  # the most min_agents and max_agents may be


def _max_not_below_min_schema() -> dict[str, JsonValue]:
    """`max_agents >= min_agents` for JSON Schema readers: it cannot compare two fields, but both are bounded
    integers, so one `if min_agents is k then max_agents >= k` per value of `min_agents` says the same."""
    return {
        "allOf": [
            {
                "if": {"properties": {"min_agents": {"const": k}}, "required": ["min_agents"]},
                "then": {"properties": {"max_agents": {"minimum": k}}},
            }
            for k in range(2, MAX_INSTANCES + 1)  # max_agents is at least 1 anyway
        ]
    }


Image = Annotated[
    str, Field(max_length=512), Matches(IMAGE_PATTERN, "must name a tag or a digest (image:1.0, image@sha256:…)")
]
Profile = Annotated[str, Field(max_length=63), Matches(PROFILE_PATTERN, "must be a profile name such as agent-1x")]
Region = Annotated[str, Field(max_length=63), Matches(REGION_PATTERN, "must be a region code such as us-west")]
SessionCap = Annotated[int, Field(ge=MIN_SESSION_S, le=MAX_SESSION_S)]  # seconds
SecretSetName = Annotated[str, Matches(SET_NAME_PATTERN, "must be a secret set name (3 to 63 of a-z, 0-9, -, .)")]


class DeploymentConfig(StrictModel):
    """How Pipecat Cloud runs the agent. Every field is optional: absent, Pipecat Cloud's default applies."""

    model_config = ConfigDict(json_schema_extra=_max_not_below_min_schema())

    image: Image | None = Field(
        None,
        description="The bot image, with a tag or a digest (`repo/image:1.0`, `repo/image@sha256:…`). Absent: "
        "config-sync deploys its `AGENT_IMAGE`.",
    )
    agent_profile: Profile | None = Field(
        None,
        description="Size of each instance: `agent-1x` (0.5 vCPU, 1 GB), `agent-2x` (1 vCPU, 2 GB), `agent-3x` "
        "(1.5 vCPU, 3 GB), or an enterprise organisation's own profile (a-z, 0-9, `-`).",
    )
    min_agents: int | None = Field(None, ge=0, le=MAX_INSTANCES, description="Instances kept warm.")
    max_agents: int | None = Field(
        None, ge=1, le=MAX_INSTANCES, description="Most instances at once; at least `min_agents`."
    )
    region: Region | None = Field(
        None,
        description="Pipecat Cloud region code (a-z, 0-9, `-`), e.g. `us-west`; applies when the agent is created.",
    )
    krisp_viva_audio_filter: Literal["tel", "pro"] | None = Field(
        None, description="Krisp VIVA noise filter: `tel` for telephone audio, `pro` for wide band; absent: off."
    )
    max_session_duration: SessionCap | None = Field(
        None,
        description="Longest session, in seconds; absent: Pipecat Cloud's 7200. The bot wraps a call up before it "
        "(`llm_context.wrap_up_before_s`).",
    )
    image_pull_secret_set: SecretSetName | None = Field(
        None, description="Image pull secret set for a private registry (3 to 63 of a-z, 0-9, `-`, `.`)."
    )

    @field_validator("max_agents")
    @classmethod
    def _not_below_min(cls, value: int | None, info: ValidationInfo) -> int | None:
        least = info.data.get("min_agents")  # absent when min_agents itself was invalid: reported there
        if value is not None and least is not None and value < least:
            raise ValueError(f"must be at least min_agents ({least})")
        return value
