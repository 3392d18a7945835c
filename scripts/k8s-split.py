"""Split one rendered overlay for the offline checks: the objects kubernetes-validate has schemas for, and the
Prometheus Operator's (PrometheusRule, ServiceMonitor), whose rule groups become a plain Prometheus rules file
for `promtool check rules` / `promtool test rules`.

    k8s-split.py RENDERED.yaml CORE_OUT.yaml RULES_OUT.yaml

Only the Prometheus Operator's kinds are taken out: any other kind stays in CORE_OUT, so an unknown or removed
apiVersion still fails kubernetes-validate. RULES_OUT is written only when the overlay has a PrometheusRule
(exit 0 either way); a PrometheusRule without groups is an error. Run by scripts/k8s-check.sh.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

PROMETHEUS_RULE = ("monitoring.coreos.com/v1", "PrometheusRule")
OPERATOR_KINDS = {PROMETHEUS_RULE, ("monitoring.coreos.com/v1", "ServiceMonitor")}


def split(rendered: Path, core_out: Path, rules_out: Path) -> int:
    objects: list[dict[str, Any]] = [doc for doc in yaml.safe_load_all(rendered.read_text()) if doc]
    core = [o for o in objects if (o.get("apiVersion"), o.get("kind")) not in OPERATOR_KINDS]
    rules = [o for o in objects if (o.get("apiVersion"), o.get("kind")) == PROMETHEUS_RULE]
    core_out.write_text(yaml.safe_dump_all(core, sort_keys=False))
    rules_out.unlink(missing_ok=True)
    if not rules:
        return 0
    groups = [group for rule in rules for group in (rule.get("spec") or {}).get("groups") or []]
    if not groups:
        print(f"k8s-split: {rendered}: a PrometheusRule has no spec.groups", file=sys.stderr)
        return 1
    rules_out.write_text(yaml.safe_dump({"groups": groups}, sort_keys=False))
    return 0


def main(argv: list[str]) -> int:
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    rendered, core_out, rules_out = (Path(a) for a in argv)
    return split(rendered, core_out, rules_out)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
