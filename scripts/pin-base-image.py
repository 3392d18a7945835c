"""Pin the bot's base image for a release build: read the base's release tag from agent_bot/Dockerfile, ask the
registry for the digest of that tag's multi-arch index (`docker buildx imagetools inspect`), check that the index
holds the platform the bot is built for, and print `key=value` lines for $GITHUB_OUTPUT:

    tag=dailyco/pipecat-base:0.1.31-py3.12
    digest=sha256:<64 hex>
    ref=dailyco/pipecat-base:0.1.31-py3.12@sha256:<64 hex>

The image is then built with `--build-arg PIPECAT_BASE_DIGEST=<digest>`. Anything short of a pinned index (the
registry unreachable, a single-platform manifest, no such platform, a malformed answer) exits 1 with the reason on
stderr, and the release workflow neither builds nor pushes the bot.

    pin-base-image.py [--dockerfile agent_bot/Dockerfile] [--platform linux/arm64] [--docker docker]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

DIGEST_ARG = "PIPECAT_BASE_DIGEST"
# FROM <repo>:<tag>${PIPECAT_BASE_DIGEST:+@}${PIPECAT_BASE_DIGEST}: the tag stays in the file, CI adds the digest
FROM = re.compile(
    r"^FROM\s+(?P<tag>[\w./-]+:[\w.-]+)\$\{" + DIGEST_ARG + r":\+@\}\$\{" + DIGEST_ARG + r"\}\s*$", re.MULTILINE
)
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
INDEX_TYPES = {"application/vnd.oci.image.index.v1+json", "application/vnd.docker.distribution.manifest.list.v2+json"}


class PinError(Exception):
    """Why the base cannot be pinned; one line."""


def base_tag(dockerfile: Path) -> str:
    text = dockerfile.read_text()
    froms = re.findall(r"^FROM\s", text, re.MULTILINE)
    found = FROM.search(text)
    if len(froms) != 1 or found is None:
        raise PinError(
            f"{dockerfile}: expected one `FROM repo:tag${{{DIGEST_ARG}:+@}}${{{DIGEST_ARG}}}` line (the base's release "
            "tag, to which the build adds its digest)"
        )
    if not re.search(rf"^ARG {DIGEST_ARG}=?\s*$", text[: found.start()], re.MULTILINE):
        raise PinError(f"{dockerfile}: `ARG {DIGEST_ARG}` must come before the FROM line")
    return found["tag"]


def inspect(docker: str, tag: str) -> dict[str, Any]:
    argv = [docker, "buildx", "imagetools", "inspect", tag, "--format", "{{json .Manifest}}"]
    try:
        result = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)  # noqa: S603  (our argv)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise PinError(f"`{' '.join(argv[:4])}` could not run: {exc}") from None
    if result.returncode != 0:
        reason = (result.stderr.strip().splitlines() or ["no output"])[-1]
        raise PinError(f"the registry did not answer for {tag}: {reason}")
    try:
        manifest = json.loads(result.stdout)
    except ValueError:
        raise PinError(f"unreadable answer for {tag}: {result.stdout[:200]!r}") from None
    if not isinstance(manifest, dict):
        raise PinError(f"unreadable answer for {tag}: {result.stdout[:200]!r}")
    return manifest


def platforms(manifest: dict[str, Any]) -> set[str]:
    """`os/arch` and `os/arch/variant` of every image in the index (attestations are `unknown/unknown`)."""
    found = set()
    for entry in manifest.get("manifests") or []:
        platform = entry.get("platform") or {}
        os_arch = f"{platform.get('os')}/{platform.get('architecture')}"
        found.add(os_arch)
        if platform.get("variant"):
            found.add(f"{os_arch}/{platform['variant']}")
    return found


def pin(dockerfile: Path, platform: str, docker: str = "docker") -> dict[str, str]:
    tag = base_tag(dockerfile)
    manifest = inspect(docker, tag)
    digest = str(manifest.get("digest", ""))
    if manifest.get("mediaType") not in INDEX_TYPES or "manifests" not in manifest:
        raise PinError(f"{tag} is not a multi-arch index ({manifest.get('mediaType')}): refusing to pin one platform")
    if not DIGEST.fullmatch(digest):
        raise PinError(f"{tag}: the registry's digest {digest!r} is not sha256:<64 hex>")
    if platform not in platforms(manifest):
        raise PinError(f"{tag}@{digest} has no {platform} image (it has {', '.join(sorted(platforms(manifest)))})")
    return {"tag": tag, "digest": digest, "ref": f"{tag}@{digest}"}


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dockerfile", type=Path, default=Path("agent_bot/Dockerfile"))
    parser.add_argument("--platform", default="linux/arm64")
    parser.add_argument("--docker", default="docker")
    args = parser.parse_args(argv)
    try:
        pinned = pin(args.dockerfile, args.platform, args.docker)
    except PinError as exc:
        print(f"pin-base-image: {exc}", file=sys.stderr)
        return 1
    for key, value in pinned.items():
        print(f"{key}={value}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
