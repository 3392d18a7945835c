"""Both images contain agent_schema and import it. Docker cannot run here, so each image's files are put together
as its Dockerfile says (COPY lines, with the image's .dockerignore applied to the build context) and used as the
image would: the daemon's wheel is built from them, the bot is imported from them, each in a fresh interpreter."""

from __future__ import annotations

import fnmatch
import re
import shlex
import subprocess
import sys
import zipfile
from pathlib import Path, PurePosixPath

ROOT = Path(__file__).resolve().parents[2]
POETRY = ROOT / ".tools" / "poetry" / "bin" / "poetry"  # installed by `make install`, which `make test` runs


def build_context(dockerignore: Path) -> list[str]:
    """The repository files Docker sends: tracked and new ones, filtered by the ignore file (last match wins)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    rules = [line.strip() for line in dockerignore.read_text().splitlines() if line.strip() and line[0] != "#"]
    sent = []
    for name in listed:
        if not (ROOT / name).is_file():
            continue  # deleted in the work tree
        paths = [name, *(str(p) for p in PurePosixPath(name).parents if str(p) != ".")]
        included = True
        for rule in rules:
            if any(fnmatch.fnmatchcase(p, rule.lstrip("!")) for p in paths):
                included = rule.startswith("!")
        if included:
            sent.append(name)
    return sent


def assemble(dockerfile: Path, dockerignore: Path, into: Path, *, stage: int = 0) -> Path:
    """Copy what the `stage`-th stage's COPY lines copy into `into` (standing for `/`); returns its workdir."""
    context = build_context(dockerignore)
    stages = re.split(r"^FROM ", dockerfile.read_text().replace("\\\n", " "), flags=re.MULTILINE)[1:]
    workdir = PurePosixPath("/")
    for line in stages[stage].splitlines():
        if not line.startswith(("COPY ", "WORKDIR ")):
            continue
        words = shlex.split(line)
        if words[:1] == ["WORKDIR"]:
            workdir = workdir / words[1]
        if words[:1] != ["COPY"] or any(w.startswith("--from") for w in words):
            continue
        *sources, dest = words[1:]
        target = workdir / dest
        for source in sources:
            matched = [f for f in context if fnmatch.fnmatchcase(f, source) or f.startswith(source.rstrip("/") + "/")]
            assert matched, f"{dockerfile.name}: COPY {source} copies nothing from the build context"
            for name in matched:
                if name == source and not dest.endswith("/") and len(sources) == 1:
                    out = target  # one file to a file name
                elif name.startswith(source.rstrip("/") + "/"):
                    out = target / name.removeprefix(source.rstrip("/") + "/")  # a directory's contents
                else:
                    out = target / PurePosixPath(name).name
                path = into / str(out).lstrip("/")
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_bytes((ROOT / name).read_bytes())
    return into / str(workdir).lstrip("/")


def run_isolated(code: str, first_on_path: Path) -> str:
    """Run `code` in a fresh interpreter (-I) whose imports look in `first_on_path` before anything else."""
    prelude = f"import sys; sys.path.insert(0, {str(first_on_path)!r}); "
    done = subprocess.run([sys.executable, "-I", "-c", prelude + code], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_the_bot_image_contains_the_schema_and_the_bot_imports_it(tmp_path: Path) -> None:
    assemble(ROOT / "agent_bot" / "Dockerfile", ROOT / "agent_bot" / "Dockerfile.dockerignore", tmp_path)
    app = tmp_path / "app"
    assert {p.name for p in (app / "agent_schema").glob("*.py")} == {
        p.name for p in (ROOT / "agent_schema").glob("*.py")
    }
    # as the base image does (`from bot import bot`), with only what the image holds ahead of the venv
    out = run_isolated(
        "from bot import bot; import agent_schema, agent_bot.config; "
        "print(agent_schema.__file__); print(agent_bot.config.__file__)",
        app,
    )
    assert all(line.startswith(str(app)) for line in out.split()), out


def test_the_daemon_image_wheel_contains_the_schema(tmp_path: Path) -> None:
    builder = assemble(ROOT / "Dockerfile", ROOT / ".dockerignore", tmp_path / "root")
    built = subprocess.run(
        [str(POETRY), "build", "--format", "wheel", "--output", str(tmp_path / "dist")],
        cwd=builder,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = (tmp_path / "dist").glob("*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert {f"agent_schema/{p.name}" for p in (ROOT / "agent_schema").glob("*.py")} <= set(names)
    site = tmp_path / "site"
    zipfile.ZipFile(wheel).extractall(site)  # what pip installs of a pure-Python wheel
    out = run_isolated("import config_sync_service.main, agent_schema; print(agent_schema.__file__)", site)
    assert out.startswith(str(site)), out
