"""In-memory state of the emulated Pipecat Cloud organisation: agents, deployments, secret sets, sessions, calls.

Lifecycles are computed from elapsed time (no background tasks): a deployment is `Creating` for the first
half of the deploy delay, `Validating` for the second, then `Active`; a secret set is `pending` until its
ready delay has passed. An image whose tag is `missing` fails validation (`PCC_IMAGE_NOT_FOUND`).
"""

from __future__ import annotations

import json
import threading
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from config_sync_service.emulator.config import EmulatorConfig


def iso(ts: float) -> str:
    """ISO 8601 in UTC with milliseconds, as the real API writes every timestamp (`2026-01-01T12:34:56.789Z`)."""
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def agent_config_version(values: dict[str, str]) -> int | None:
    """The `version` inside a secret set's `AGENT_CONFIG`: what a session started now would run."""
    try:
        version = json.loads(values.get("AGENT_CONFIG", "")).get("version")
    except (ValueError, AttributeError):
        return None
    return version if isinstance(version, int) else None


PROFILE_RESOURCES = {
    "agent-1x": {"cpu": "500m", "memory": "1Gi"},
    "agent-2x": {"cpu": "1", "memory": "2Gi"},
    "agent-3x": {"cpu": "1500m", "memory": "3Gi"},
}


@dataclass
class Deployment:
    id: str
    image: str
    created: float = field(default_factory=time.monotonic)
    created_wall: float = field(default_factory=time.time)

    @property
    def image_missing(self) -> bool:
        return self.image.rsplit(":", 1)[-1] == "missing"


@dataclass
class Service:
    name: str
    region: str
    spec: dict[str, Any]
    deployments: list[Deployment] = field(default_factory=list)
    created: float = field(default_factory=time.time)
    updated: float = field(default_factory=time.time)
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def phase(self, deployment: Deployment, delay: float) -> str:
        elapsed = time.monotonic() - deployment.created
        if elapsed < delay / 2:
            return "Creating"
        if deployment.image_missing:
            return "Failed"
        return "Validating" if elapsed < delay else "Active"

    def reconciled(self, delay: float) -> Deployment | None:
        """The newest deployment the operator finished with (a failed one keeps the previous)."""
        for deployment in reversed(self.deployments):
            if self.phase(deployment, delay) == "Active":
                return deployment
        return None

    def _deployment(self, desired: Deployment) -> dict[str, Any]:
        scaling = self.spec.get("autoScaling") or {}
        spec: dict[str, Any] = {
            "dailyNodeType": "arm",
            "image": desired.image,
            "autoScaling": {"minReplicas": scaling.get("minAgents", 0), "maxReplicas": scaling.get("maxAgents", 50)},
            "imagePullSecretName": self.spec.get("imagePullSecretSet"),
            "envFromSecretNames": [self.spec["secretSet"]] if self.spec.get("secretSet") else [],
            "resources": PROFILE_RESOURCES.get(
                str(self.spec.get("agentProfile", "agent-1x")), PROFILE_RESOURCES["agent-1x"]
            ),
            "krispModels": {"enabled": bool(self.spec.get("enableKrisp"))},
            "krispViva": {"audioFilters": (self.spec.get("krispViva") or {}).get("audioFilter")},
        }
        if self.spec.get("maxSessionDuration") is not None:  # absent when the default applies
            spec["maxSessionDurationSeconds"] = self.spec["maxSessionDuration"]
        return {
            "id": desired.id,
            "serviceId": self.id,
            "createdAt": iso(desired.created_wall),
            "updatedAt": iso(desired.created_wall),
            "manifest": {
                "apiVersion": "pipecatcloud.daily.co/v1",
                "kind": "PCService",
                "metadata": {"name": self.name, "namespace": "org-emulator"},
                "spec": spec,
            },
        }

    def details(self, delay: float, active_sessions: int) -> dict[str, Any]:
        desired = self.deployments[-1]
        phase = self.phase(desired, delay)
        reconciled = self.reconciled(delay)
        ready = phase == "Active"
        scaling = self.spec.get("autoScaling") or {}
        previous = self.deployments[-2] if len(self.deployments) > 1 else None
        body: dict[str, Any] = {
            "name": self.name,
            "region": self.region,
            "ready": ready,
            "available": reconciled is not None,
            "createdAt": iso(self.created),
            "updatedAt": iso(self.updated),
            "desiredDeploymentId": desired.id,
            "activeDeploymentId": desired.id,
            "reconciledDeploymentId": desired.id if ready else (reconciled.id if reconciled else None),
            "activeDeploymentReady": ready,
            "autoScaling": {"minReplicas": scaling.get("minAgents", 0), "maxReplicas": scaling.get("maxAgents", 50)},
            "activeSessionCount": active_sessions,
            "agentProfile": self.spec.get("agentProfile", "agent-1x"),
            "krispViva": {"audioFilter": (self.spec.get("krispViva") or {}).get("audioFilter")},
            "deployment": self._deployment(desired),
            "currentRevision": _revision(desired.id, desired.created_wall, phase),
            "previousRevision": None if previous is None else _revision(previous.id, desired.created_wall, "Draining"),
            "conditions": _conditions(phase, reconciled is not None),
        }
        if phase == "Failed":
            body["errors"] = [
                {"code": "PCC_IMAGE_NOT_FOUND", "message": f"Image {desired.image} not found in the registry"}
            ]
            body["currentRevision"]["health"] |= {"state": "waiting", "reason": "ImagePullBackOff"}
        return body


def _conditions(phase: str, available: bool) -> list[dict[str, str]]:
    """The Kubernetes-style conditions the CLI reads (`Progressing` while a revision rolls out, `Degraded` when
    it failed with the previous one still serving)."""
    failed = phase == "Failed"
    progressing = phase in ("Creating", "Validating")
    return [
        {"type": "Progressing", "status": str(progressing), "reason": phase, "message": f"revision {phase}"},
        {"type": "Degraded", "status": str(failed and available), "reason": phase, "message": f"revision {phase}"},
    ]


def _revision(deployment_id: str, started_wall: float, phase: str) -> dict[str, Any]:
    ready = phase == "Active"
    return {
        "deploymentID": deployment_id,
        "phase": phase,
        "readyReplicas": 1 if ready else 0,
        "phaseStartedAt": iso(started_wall),
        "health": {
            "ready": ready,
            "state": "running" if ready else "waiting",
            "restartCount": 0,
            "replicasStarted": 1 if ready else 0,
        },
    }


@dataclass
class SecretSet:
    name: str
    region: str
    kind: str = "secret"  # or "imagePullSecret"
    values: dict[str, str] = field(default_factory=dict)
    changed: float = field(default_factory=time.monotonic)

    def status(self, delay: float) -> str:
        return "ready" if time.monotonic() - self.changed >= delay else "pending"


@dataclass
class Session:
    id: str
    agent: str
    deployment_id: str | None
    created: float = field(default_factory=time.time)
    ended: float | None = None
    received: list[dict[str, Any]] = field(default_factory=list)
    received_at: list[float] = field(default_factory=list)  # time.time() of each `received` entry
    version: int | None = None  # the configuration the bot stand-in runs: AGENT_CONFIG's at start, then pushes

    def item(self) -> dict[str, Any]:
        return {
            "sessionId": self.id,
            "serviceId": self.agent,
            "organizationId": "org-emulator",
            "deploymentId": self.deployment_id,
            "endedAt": iso(self.ended) if self.ended else None,
            "botStartSeconds": 1,
            "coldStart": False,
            "completionStatus": "HTTP_COMPLETED" if self.ended else None,
            "createdAt": iso(self.created),
            "updatedAt": iso(self.ended or self.created),
        }


@dataclass
class Call:
    """One request the emulator received (what tests and the benchmark count)."""

    method: str
    path: str
    op: str
    key_type: str
    agent: str | None
    time: float
    body: Any = None
    status: int | None = None  # None while the request is still being answered
    duration_s: float | None = None
    user_agent: str | None = None  # who sent it (config-sync's observer says so: counted apart)


class EmulatorState:
    """Everything the emulator knows; one lock, because tests read it from another thread."""

    def __init__(self, config: EmulatorConfig) -> None:
        self.config = config
        self.lock = threading.RLock()
        self.reset()

    def reset(self) -> None:
        with self.lock:
            self.services: dict[str, Service] = {}
            self.secret_sets: dict[str, SecretSet] = {}
            self.sessions: dict[str, Session] = {}
            self.calls: list[Call] = []
            self.bots: dict[str, str] = {}  # agent → bot base URL for the Session API proxy

    def new_deployment(self, service: Service, image: str) -> Deployment:
        deployment = Deployment(id=str(uuid.uuid4()), image=image)
        service.deployments.append(deployment)
        service.updated = time.time()
        return deployment

    def active_sessions(self, agent: str) -> list[Session]:
        return [s for s in self.sessions.values() if s.agent == agent and s.ended is None]

    def add_session(self, agent: str) -> Session:
        service = self.services.get(agent)
        deployment = service.deployments[-1].id if service else None
        secret_set = self.secret_sets.get(str(service.spec.get("secretSet"))) if service else None
        version = agent_config_version(secret_set.values) if secret_set else None
        session = Session(id=str(uuid.uuid4()), agent=agent, deployment_id=deployment, version=version)
        self.sessions[session.id] = session
        return session
