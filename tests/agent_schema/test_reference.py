"""README's configuration reference is generated from the schema: up to date, complete, and regenerated in place."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from pydantic import BaseModel

from agent_schema import AgentConfigDocument

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "config-reference.py"
START = "<!-- config-reference:start"
END = "<!-- config-reference:end -->"


def reference(readme: str) -> str:
    return readme[readme.index(START) : readme.index(END)]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False)


def field_paths(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every field of the models, nested ones included (`llm_context.knowledge_base[].title`)."""
    paths = []
    for name, info in model.model_fields.items():
        path = f"{prefix}{name}"
        paths.append(path)
        nested = info.annotation
        if getattr(nested, "__origin__", None) is list:
            (nested,) = nested.__args__  # type: ignore[union-attr]
            path += "[]"
        if isinstance(nested, type) and issubclass(nested, BaseModel):
            paths += field_paths(nested, path + ".")
    return paths


def test_the_readme_reference_is_up_to_date() -> None:
    checked = run("--check")
    assert checked.returncode == 0, checked.stderr + "(run `make config-reference`)"


def test_every_field_is_in_the_reference() -> None:
    section = reference((ROOT / "README.md").read_text())
    paths = field_paths(AgentConfigDocument)
    assert {"deployment.image", "llm_context.knowledge_base[].title", "secrets"} <= set(paths)
    missing = [p for p in paths if f"| `{p}` |" not in section]
    assert not missing


def test_a_stale_reference_fails_the_check_and_is_rewritten_in_place(tmp_path: Path) -> None:
    readme = (ROOT / "README.md").read_text()
    stale = readme.replace("| `llm_context.greeting` |", "| `llm_context.salutation` |")
    assert stale != readme
    copy = tmp_path / "README.md"
    copy.write_text(stale)
    checked = run("--check", "--readme", str(copy))
    assert checked.returncode == 1 and "out of date" in checked.stderr
    assert run("--readme", str(copy)).returncode == 0
    assert copy.read_text() == readme  # the section regenerated, everything around it untouched
