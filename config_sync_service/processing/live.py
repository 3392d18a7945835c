"""The one comparison of what Postgres wants with what Pipecat Cloud runs (DESIGN §13): `compare()`.

The observer, `config-sync diff` and /status all read its answer. `Desired` is an agent's active configuration as
config-sync deploys it; `Live` is what Pipecat shows, read from the agents list (which carries the desired
deployment's manifest) or from the agent's details (which add its profile, krisp, readiness and errors). A field
the source did not carry is `UNREAD` and not compared. Secret sets are compared by their keys, never by a value:
values cannot be read back, which is why a deployment that config-sync did not create is drift on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

from agent_schema.deployment import DEFAULT_SESSION_S
from config_sync_service.db.models import LiveHealth
from config_sync_service.processing.operations import Target

UNREAD: Final = "(unread)"  # the source of a `Live` did not carry this field
DEFAULT_PROFILE = "agent-1x"
# the fields, in the order a diff shows them
FIELDS = (
    "exists",
    "image",
    "secret_set",
    "min_agents",
    "max_agents",
    "agent_profile",
    "region",
    "krisp",
    "max_session_duration",
    "deployment",
    "secret_set_exists",
    "secret_keys",
    "revision",
)


@dataclass(frozen=True, slots=True)
class Desired:
    """What config-sync deploys for one agent at its active version, and the deployment it created last."""

    name: str
    version: int
    image: str
    secret_set: str
    min_agents: int | None
    max_agents: int | None
    agent_profile: str
    region: str | None
    krisp: str | None
    max_session_duration: int
    secret_keys: tuple[str, ...]
    deployment: str | None

    @classmethod
    def of(cls, target: Target, *, created_deployment_id: str | None) -> Desired:
        spec = target.spec()
        return cls(
            name=target.name,
            version=target.version,
            image=spec.image,
            secret_set=target.set_name,
            min_agents=spec.min_agents,
            max_agents=spec.max_agents,
            agent_profile=spec.agent_profile or DEFAULT_PROFILE,
            region=spec.region,
            krisp=spec.krisp_viva_audio_filter,
            max_session_duration=spec.max_session_duration or DEFAULT_SESSION_S,
            secret_keys=tuple(sorted(target.secret_values)),
            deployment=created_deployment_id,
        )

    def value(self, name: str) -> Any:
        if name in ("exists", "secret_set_exists"):
            return True
        if name == "revision":
            return "ready"
        return getattr(self, name)


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


@dataclass(frozen=True, slots=True)
class Live:
    """One agent as Pipecat Cloud shows it; `UNREAD` where the source does not say."""

    name: str
    region: Any = UNREAD
    image: Any = UNREAD
    secret_set: Any = UNREAD
    min_agents: Any = UNREAD
    max_agents: Any = UNREAD
    agent_profile: Any = UNREAD
    krisp: Any = UNREAD
    max_session_duration: Any = UNREAD
    deployment: Any = UNREAD
    reconciled_deployment: Any = UNREAD
    revision: Any = UNREAD  # "ready", "not ready", or "failed: <codes>"
    secret_set_exists: Any = UNREAD
    secret_keys: Any = UNREAD

    @classmethod
    def _from_manifest(cls, data: dict[str, Any], **extra: Any) -> Live:
        spec = _dict(_dict(_dict(data.get("deployment")).get("manifest")).get("spec"))
        scaling = _dict(spec.get("autoScaling"))
        env_sets = spec.get("envFromSecretNames")
        fields: dict[str, Any] = {
            "region": data.get("region"),
            "deployment": data.get("desiredDeploymentId"),
            "reconciled_deployment": data.get("reconciledDeploymentId"),
        }
        if spec:
            fields |= {
                "image": spec.get("image"),
                "secret_set": env_sets[0] if isinstance(env_sets, list) and len(env_sets) == 1 else env_sets,
                "min_agents": scaling.get("minReplicas"),
                "max_agents": scaling.get("maxReplicas"),
                "max_session_duration": spec.get("maxSessionDurationSeconds") or DEFAULT_SESSION_S,
            }
        return cls(name=str(data.get("name")), **(fields | extra))

    @classmethod
    def from_list_item(cls, item: dict[str, Any]) -> Live:
        """A `GET /agents?includeActiveDeployment=true` item: no profile, krisp or readiness."""
        return cls._from_manifest(item)

    @classmethod
    def from_details(cls, details: dict[str, Any]) -> Live:
        """`GET /agents/{name}`: everything but the secret set's keys."""
        return cls._from_manifest(
            details,
            agent_profile=details.get("agentProfile") or DEFAULT_PROFILE,
            krisp=_dict(details.get("krispViva")).get("audioFilter"),
            revision=_revision(details),
        )

    def with_secret_set(self, keys: list[str] | None) -> Live:
        """The secret set as `GET /secrets/{set}` showed it (None: not found)."""
        if keys is None:
            return _replace(self, secret_set_exists=False, secret_keys=())
        return _replace(self, secret_set_exists=True, secret_keys=tuple(sorted(keys)))

    def value(self, name: str) -> Any:
        return True if name == "exists" else getattr(self, name)


def _replace(live: Live, **changes: Any) -> Live:
    values = {f: getattr(live, f) for f in live.__slots__}
    return Live(**(values | changes))


def _revision(details: dict[str, Any]) -> str:
    errors = [e for e in details.get("errors") or [] if isinstance(e, dict)]
    phase = _dict(details.get("currentRevision")).get("phase")
    if errors or phase == "Failed":
        return "failed: " + (", ".join(str(e.get("code", "ERROR")) for e in errors) or "revision Failed")
    deployed = details.get("desiredDeploymentId") == details.get("reconciledDeploymentId")
    return "ready" if details.get("ready") and deployed else "not ready"


@dataclass(frozen=True, slots=True)
class Difference:
    field: str
    desired: Any
    live: Any

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "desired": self.desired, "live": self.live}


# what the list does not carry and need not: a deployment config-sync created fixes the profile and krisp, a ready
# one is reconciled, and the secret set is read apart
_DECIDED_WITHOUT = {"agent_profile", "krisp", "revision", "secret_set_exists", "secret_keys"}


@dataclass(frozen=True, slots=True)
class Verdict:
    health: LiveHealth
    differences: tuple[Difference, ...] = ()
    unread: tuple[str, ...] = field(default=())  # fields the source did not carry

    @property
    def decided(self) -> bool:
        """The list alone settles it: the deployment is config-sync's, ready, and every field it carries agrees;
        only the secret set's keys (read apart) may still be missing."""
        return self.health is LiveHealth.HEALTHY and not (set(self.unread) - _DECIDED_WITHOUT)


def _differs(name: str, desired: Any, live: Any) -> bool:
    if name == "secret_keys":  # the keys config-sync wrote must be there; more is someone else's business
        return not set(desired) <= set(live)
    # not configured: Pipecat's defaults (the organisation's region, its scaling) are not config-sync's to judge;
    # no deployment recorded (an agent synced before observation existed): the live one is adopted
    if desired is None and name in ("region", "min_agents", "max_agents", "deployment"):
        return False
    return bool(desired != live)


def compare(desired: Desired, live: Live | None) -> Verdict:
    """How the agent on Pipecat relates to its configuration; `live` None: Pipecat has no such agent."""
    if live is None:
        return Verdict(LiveHealth.MISSING, (Difference("exists", True, False),))
    differences, unread = [], []
    for name in FIELDS:
        if name == "revision":
            continue
        value = live.value(name)
        if value == UNREAD:
            unread.append(name)
        elif _differs(name, desired.value(name), value):
            differences.append(Difference(name, desired.value(name), value))
    if differences:
        return Verdict(LiveHealth.DRIFTED, tuple(differences), tuple(unread))
    if live.revision == UNREAD:
        unread.append("revision")
        ready = live.deployment == live.reconciled_deployment
    else:
        ready = live.revision == "ready"
    if not ready:
        revision = live.revision if live.revision != UNREAD else "not reconciled"
        return Verdict(LiveHealth.DEGRADED, (Difference("revision", "ready", revision),), tuple(unread))
    return Verdict(LiveHealth.HEALTHY, (), tuple(unread))


def rows(desired: Desired, live: Live | None) -> list[dict[str, Any]]:
    """Desired beside live, field by field (for `diff`): each field, both values, whether they differ."""
    verdict = compare(desired, live)
    differing = {d.field for d in verdict.differences}
    shown = []
    for name in FIELDS:
        live_value = False if live is None and name == "exists" else (None if live is None else live.value(name))
        shown.append({"field": name, "desired": desired.value(name), "live": live_value, "differs": name in differing})
    return shown
