"""The one comparison of desired with live (processing/live.py): each field, what the list alone decides, and the
health it comes to. Plain data in, no service needed."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from config_sync_service.db.models import LiveHealth
from config_sync_service.processing.live import Desired, Live, compare, rows

DESIRED = Desired(
    name="support",
    version=3,
    image="dailyco/pipecat-agent:1.0",
    secret_set="support-config",
    min_agents=0,
    max_agents=2,
    agent_profile="agent-1x",
    region=None,
    krisp=None,
    max_session_duration=7200,
    secret_keys=("AGENT_CONFIG", "AWS_ACCESS_KEY_ID"),
    deployment="dep-ours",
)


def details(**changes: Any) -> dict[str, Any]:
    """ServiceDetails of the agent as config-sync deployed it (the emulator's shape)."""
    spec = {
        "image": "dailyco/pipecat-agent:1.0",
        "autoScaling": {"minReplicas": 0, "maxReplicas": 2},
        "envFromSecretNames": ["support-config"],
        "maxSessionDurationSeconds": None,
    } | changes.pop("spec", {})
    return {
        "name": "support",
        "region": "us-west",
        "ready": True,
        "desiredDeploymentId": "dep-ours",
        "reconciledDeploymentId": "dep-ours",
        "agentProfile": "agent-1x",
        "krispViva": {"audioFilter": None},
        "deployment": {"id": "dep-ours", "manifest": {"spec": spec}},
        "currentRevision": {"phase": "Active"},
    } | changes


KEYS = ["AGENT_CONFIG", "AWS_ACCESS_KEY_ID", "SOMEONE_ELSES"]


def test_an_agent_as_deployed_is_healthy_and_the_list_alone_decides() -> None:
    assert compare(DESIRED, Live.from_details(details()).with_secret_set(KEYS)).health is LiveHealth.HEALTHY
    listed = compare(DESIRED, Live.from_list_item(details()))
    assert listed.health is LiveHealth.HEALTHY and listed.decided
    assert {"agent_profile", "krisp", "secret_keys"} <= set(listed.unread)


def test_each_field_that_differs_is_named_with_both_values() -> None:
    changed = details(
        spec={
            "image": "x/y:hand",
            "autoScaling": {"minReplicas": 1, "maxReplicas": 2},
            "maxSessionDurationSeconds": 60,
        },
        agentProfile="agent-2x",
        krispViva={"audioFilter": "pro"},
        desiredDeploymentId="dep-theirs",
        reconciledDeploymentId="dep-theirs",
    )
    verdict = compare(DESIRED, Live.from_details(changed).with_secret_set(["AGENT_CONFIG"]))
    assert verdict.health is LiveHealth.DRIFTED
    found = {d.field: (d.desired, d.live) for d in verdict.differences}
    assert found == {
        "image": ("dailyco/pipecat-agent:1.0", "x/y:hand"),
        "min_agents": (0, 1),
        "agent_profile": ("agent-1x", "agent-2x"),
        "krisp": (None, "pro"),
        "max_session_duration": (7200, 60),
        "deployment": ("dep-ours", "dep-theirs"),
        "secret_keys": (("AGENT_CONFIG", "AWS_ACCESS_KEY_ID"), ("AGENT_CONFIG",)),
    }
    assert not compare(DESIRED, Live.from_list_item(changed)).decided  # someone else's deployment: read details


def test_a_missing_agent_or_secret_set_and_a_failed_revision() -> None:
    assert compare(DESIRED, None).health is LiveHealth.MISSING
    no_set = compare(DESIRED, Live.from_details(details()).with_secret_set(None))
    assert no_set.health is LiveHealth.DRIFTED
    assert {d.field for d in no_set.differences} == {"secret_set_exists", "secret_keys"}
    failed = details(errors=[{"code": "PCC_IMAGE_NOT_FOUND", "message": "no"}], currentRevision={"phase": "Failed"})
    verdict = compare(DESIRED, Live.from_details(failed).with_secret_set(KEYS))
    assert verdict.health is LiveHealth.DEGRADED
    assert verdict.differences[0].live == "failed: PCC_IMAGE_NOT_FOUND"


def test_unset_fields_and_an_unrecorded_deployment_are_not_judged() -> None:
    loose = replace(DESIRED, min_agents=None, max_agents=None, deployment=None)
    live = Live.from_details(details(desiredDeploymentId="dep-any", reconciledDeploymentId="dep-any"))
    assert compare(loose, live.with_secret_set(KEYS)).health is LiveHealth.HEALTHY


def test_rows_show_every_field_desired_beside_live() -> None:
    shown = rows(DESIRED, None)
    assert [r["field"] for r in shown][:2] == ["exists", "image"]
    assert shown[0] == {"field": "exists", "desired": True, "live": False, "differs": True}
