"""scripts/k8s-check.sh itself: a command that fails inside a step fails that step and the script; it never
prints "ok" for it, and no later step runs on what it left behind (checkov once scanned an empty render)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "k8s-check.sh"


def run_check(tree: Path, out: Path) -> subprocess.CompletedProcess[str]:
    """The script against `tree` (a copy of k8s/), rendering into `out`. checkov is stubbed with `true`: it is
    slow and beside the point here (its own venv is `make k8s-check`'s business)."""
    env = os.environ | {
        "K8S_DIR": str(tree),
        "K8S_OUT": str(out),
        "BIN": str(Path(sys.executable).parent),
        "CHECKOV": shutil.which("true") or "/bin/true",
    }
    return subprocess.run(["bash", str(SCRIPT)], env=env, capture_output=True, text=True, timeout=120, check=False)


def ok_steps(result: subprocess.CompletedProcess[str]) -> list[str]:
    lines = result.stdout.splitlines()
    return [line.split()[1] for line in lines if line.startswith("k8s-check: ") and " ok (" in line]


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    copy = tmp_path / "k8s"
    shutil.copytree(ROOT / "k8s", copy)
    return copy


def test_the_shipped_tree_passes_every_step(tree: Path, tmp_path: Path) -> None:
    """The control: the same invocation on an intact copy renders and checks everything."""
    result = run_check(tree, tmp_path / "out")
    assert result.returncode == 0, result.stderr
    assert ok_steps(result) == ["render", "kubernetes-validate", "promtool", "yamllint", "checkov", "hadolint"]
    assert "SUCCESS: 8 rules found" in result.stdout  # promtool check rules, staging and prod
    assert "Unit Testing:" in result.stdout and "SUCCESS" in result.stdout  # promtool test rules


def test_the_operator_kinds_skip_kubernetes_validate_but_nothing_else_does(tree: Path, tmp_path: Path) -> None:
    """PrometheusRule and ServiceMonitor have no schema there (test_monitoring.py checks them); any other kind
    without one still fails the check, as before the monitoring component."""
    (tree / "base" / "unknown.yaml").write_text(
        "apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: config-sync\n"
    )
    kustomization = tree / "base" / "kustomization.yaml"
    kustomization.write_text(kustomization.read_text().replace("  - pdb.yaml\n", "  - pdb.yaml\n  - unknown.yaml\n"))

    result = run_check(tree, tmp_path / "out")
    assert result.returncode != 0
    assert ok_steps(result) == ["render"]
    assert "k8s-check: kubernetes-validate failed" in result.stderr
    assert "Widget" in result.stderr


@pytest.mark.parametrize(
    ("path", "old", "new", "reason"),
    [
        # a rule promtool cannot parse
        ("prometheusrule.yaml", "(config_sync_dlq_depth{", "(config_sync_dlq_depth{{", "could not parse expression"),
        # an alert whose threshold no longer matches its unit test
        ("prometheusrule.yaml", "    > 0.1\n", "    > 0.5\n", "FAILED"),
    ],
)
def test_a_broken_alert_rule_fails_the_promtool_step(
    tree: Path, tmp_path: Path, path: str, old: str, new: str, reason: str
) -> None:
    rules = tree / "components" / "monitoring" / path
    text = rules.read_text()
    assert text.count(old) == 1
    rules.write_text(text.replace(old, new))

    result = run_check(tree, tmp_path / "out")
    assert result.returncode != 0
    assert ok_steps(result) == ["render", "kubernetes-validate"]
    assert "k8s-check: promtool failed" in result.stderr
    assert reason in result.stdout + result.stderr


@pytest.mark.parametrize("overlay", ["dev", "staging", "prod"])
def test_an_overlay_that_does_not_render_fails_the_check(tree: Path, tmp_path: Path, overlay: str) -> None:
    kustomization = tree / "overlays" / overlay / "kustomization.yaml"
    text = kustomization.read_text()
    assert "  - namespace.yaml\n" in text
    kustomization.write_text(text.replace("  - namespace.yaml\n", "  - namespace.yaml\n  - missing.yaml\n"))

    result = run_check(tree, tmp_path / "out")
    assert result.returncode != 0
    assert ok_steps(result) == []  # not "render overlays ok", and nothing after it ran
    assert "k8s-check: render overlays failed" in result.stderr
    assert "missing.yaml" in result.stderr  # kustomize's own reason is shown
