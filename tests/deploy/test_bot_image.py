"""The bot image's supply chain: a fixed base release, pinned by the digest of its multi-arch index when a release
is built (scripts/pin-base-image.py; the workflow's side is in test_workflows.py), and only the locked files of the
locked versions installed (`pip install --require-hashes`, hashes taken from poetry.lock by
scripts/bot-requirements.py)."""

from __future__ import annotations

import json
import re
import runpy
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "agent_bot" / "Dockerfile"
REQUIREMENTS = ROOT / "agent_bot" / "requirements.txt"
HASH = re.compile(r"--hash=sha256:([0-9a-f]{64})")


def requirements() -> dict[str, tuple[str, set[str]]]:
    """name → (pinned version, hashes), from requirements.txt with its `\\` continuations joined."""
    text = REQUIREMENTS.read_text().replace("\\\n", " ")
    found: dict[str, tuple[str, set[str]]] = {}
    for line in text.splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        spec, *options = line.split()
        requirement = Requirement(spec)
        (pin,) = requirement.specifier
        assert pin.operator == "==", line
        hashes = [HASH.fullmatch(option) for option in options]
        found[canonicalize_name(requirement.name)] = (pin.version, {h[1] for h in hashes if h})
        assert len(found[canonicalize_name(requirement.name)][1]) == len(options), line  # only --hash options
    return found


def locked_files() -> dict[tuple[str, str], set[str]]:
    lock = tomllib.loads((ROOT / "poetry.lock").read_text())
    return {
        (canonicalize_name(p["name"]), p["version"]): {f["hash"].removeprefix("sha256:") for f in p["files"]}
        for p in lock["package"]
    }


def test_the_image_installs_with_require_hashes() -> None:
    dockerfile = DOCKERFILE.read_text()
    installs = re.findall(r"^RUN (pip install .*)$", dockerfile, re.MULTILINE)
    assert installs == ["pip install --no-cache-dir --require-hashes -r /app/requirements.txt"]


def test_every_requirement_is_pinned_to_the_locked_files() -> None:
    pinned, locked = requirements(), locked_files()
    assert len(pinned) > 50 and "pipecat-ai" in pinned
    for name, (version, hashes) in pinned.items():
        assert (name, version) in locked, f"{name}=={version} is not the locked version"
        assert hashes and hashes == locked[name, version], f"{name}: hashes differ from poetry.lock"


def test_requirements_txt_is_what_the_script_writes_now(tmp_path: Path) -> None:
    """A stale file (the lock moved on, `make bot-requirements` not run) fails here rather than in an image build."""
    script = runpy.run_path(str(ROOT / "scripts" / "bot-requirements.py"))
    out = tmp_path / "requirements.txt"
    script["write"](out, lock_path=ROOT / "poetry.lock")
    assert out.read_text() == REQUIREMENTS.read_text()


PIN = ROOT / "scripts" / "pin-base-image.py"
BASE_TAG = re.compile(r"dailyco/pipecat-base:\d+\.\d+\.\d+-py3\.12")
INDEX_DIGEST = "sha256:" + "ab" * 32


def test_the_base_image_is_a_fixed_release_that_takes_its_digest() -> None:
    """One stage, on a fixed release tag (never a moving one), to which a release build adds the index digest."""
    dockerfile = DOCKERFILE.read_text()
    (base,) = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    tag, _, suffix = base.partition("$")
    assert BASE_TAG.fullmatch(tag), base
    assert "$" + suffix == "${PIPECAT_BASE_DIGEST:+@}${PIPECAT_BASE_DIGEST}"
    assert dockerfile.index("ARG PIPECAT_BASE_DIGEST=\n") < dockerfile.index("FROM ")
    assert 'org.opencontainers.image.base.digest="${PIPECAT_BASE_DIGEST}"' in dockerfile  # recorded in the image


def index(*platforms: str, digest: str = INDEX_DIGEST) -> dict[str, Any]:
    """What `docker buildx imagetools inspect --format '{{json .Manifest}}'` prints for a multi-arch index."""
    manifests = []
    for i, platform in enumerate(platforms):
        os, arch, *variant = platform.split("/")
        manifests.append(
            {
                "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "digest": f"sha256:{i:064x}",
                "size": 1000 + i,
                "platform": {"architecture": arch, "os": os} | ({"variant": variant[0]} if variant else {}),
            }
        )
    return {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "digest": digest,
            "size": 1609, "manifests": manifests}  # fmt: skip


def run_pin(tmp_path: Path, answer: str, *, exit_code: int = 0) -> subprocess.CompletedProcess[str]:
    """The script against a stand-in `docker` (Docker Hub cannot be reached here) that records its arguments and
    prints `answer` as the registry's."""
    (tmp_path / "answer").write_text(answer)
    docker = tmp_path / "docker"
    docker.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {tmp_path}/argv\n'
        f"cat {tmp_path}/answer >&{2 if exit_code else 1}\nexit {exit_code}\n"
    )
    docker.chmod(0o755)
    argv = [sys.executable, str(PIN), "--dockerfile", str(DOCKERFILE), "--docker", str(docker)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)


def test_a_release_pins_the_base_by_its_index_digest(tmp_path: Path) -> None:
    result = run_pin(tmp_path, json.dumps(index("linux/amd64", "linux/arm64/v8", "unknown/unknown")))
    assert result.returncode == 0, result.stderr
    (base,) = re.findall(r"^FROM (\S+?)\$", DOCKERFILE.read_text(), re.MULTILINE)
    assert (tmp_path / "argv").read_text().splitlines() == [
        "buildx", "imagetools", "inspect", base, "--format", "{{json .Manifest}}",
    ]  # fmt: skip
    assert result.stdout.splitlines() == [f"tag={base}", f"digest={INDEX_DIGEST}", f"ref={base}@{INDEX_DIGEST}"]


@pytest.mark.parametrize(
    ("answer", "exit_code", "reason"),
    [
        ("Get https://registry-1.docker.io/v2/: dial tcp: lookup failed", 1, "the registry did not answer"),
        (json.dumps(index("linux/amd64")), 0, "has no linux/arm64 image"),
        (json.dumps(index("linux/arm64", digest="sha256:abc")), 0, "is not sha256:<64 hex>"),
        (  # one platform's manifest, not the index: it would pin arm64 or amd64 alone
            json.dumps({"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": INDEX_DIGEST, "size": 9}),
            0,
            "is not a multi-arch index",
        ),
        ("<html>rate limited</html>", 0, "unreadable answer"),
    ],
)
def test_no_pinned_digest_no_release(tmp_path: Path, answer: str, exit_code: int, reason: str) -> None:
    """Anything short of a pinned multi-arch index fails the step, so the workflow builds and pushes no bot."""
    result = run_pin(tmp_path, answer, exit_code=exit_code)
    assert result.returncode == 1
    assert result.stdout == ""  # nothing for $GITHUB_OUTPUT: the build step never sees a digest
    assert result.stderr.startswith("pin-base-image: ") and reason in result.stderr, result.stderr


def test_a_dockerfile_without_the_digest_argument_cannot_be_pinned(tmp_path: Path) -> None:
    unpinnable = tmp_path / "Dockerfile"
    unpinnable.write_text(re.sub(r"\$\{PIPECAT_BASE_DIGEST.*", "", DOCKERFILE.read_text()))
    argv = [sys.executable, str(PIN), "--dockerfile", str(unpinnable), "--docker", "/bin/false"]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 1 and "expected one `FROM repo:tag${PIPECAT_BASE_DIGEST" in result.stderr
