"""The bot image's supply chain: a pinned base, and only the locked files of the locked versions installed
(`pip install --require-hashes`, hashes taken from poetry.lock by scripts/bot-requirements.py)."""

from __future__ import annotations

import re
import runpy
import tomllib
from pathlib import Path

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


def test_the_base_image_is_a_fixed_release() -> None:
    (base,) = re.findall(r"^FROM (\S+)", DOCKERFILE.read_text(), re.MULTILINE)
    assert re.fullmatch(r"dailyco/pipecat-base:\d+\.\d+\.\d+-py3\.12(@sha256:[0-9a-f]{64})?", base), base
