"""The monitoring component (k8s/components/monitoring) as staging and prod render it. kubernetes-validate has no
schemas for the Prometheus Operator's kinds, so their shape is asserted here: the fields the operator reads, and
no field it would ignore (a typo). Every metric the alerts and the dashboard query is one config-sync exports, the
dashboard's PromQL parses (promtool), and the sweep alert's threshold follows RECONCILE_INTERVAL_S."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from prometheus_client.metrics import MetricWrapperBase

from config_sync_service.api.metrics import SECONDS_SINCE_SWEEP
from config_sync_service.core import metrics
from tests.deploy.test_manifests import K8S, ROOT, Obj, one, render, settings_configmap

MONITORED = ["staging", "prod"]
COMPONENT = K8S / "components" / "monitoring"
DASHBOARD = COMPONENT / "dashboards" / "config-sync.json"
PROMTOOL = ROOT / ".tools" / "prometheus" / "usr" / "bin" / "promtool"
API_VERSION = "monitoring.coreos.com/v1"
# the live-health gauge of the observed-state work (DESIGN §13): one sample per health value
LIVE_HEALTH = "config_sync_agents_live"
ALERTS = {
    "ConfigSyncDown",
    "ConfigSyncSweepStalled",
    "ConfigSyncAgentsInError",
    "ConfigSyncAgentsMissing",
    "ConfigSyncAgentsDrifted",
    "ConfigSyncDeadLetters",
    "ConfigSyncPipecatErrors",
    "ConfigSyncNotificationsFailing",
}
DURATION = re.compile(r"(\d+[smhd])+")
METRIC = re.compile(r"\b(config_sync_[a-z_]+)")


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return {overlay: render(overlay) for overlay in MONITORED}


def exported_metric_names() -> set[str]:
    """Every series name /metrics can carry, from the instruments in config_sync_service/core/metrics.py."""
    suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"], "gauge": [""]}
    names = {SECONDS_SINCE_SWEEP}  # computed at scrape time (api/metrics.py), not an instrument
    for instrument in vars(metrics).values():
        if isinstance(instrument, MetricWrapperBase):
            for family in instrument.describe():
                names.update(family.name + suffix for suffix in suffixes[family.type])
    return names


def rules_of(rule: Obj) -> list[Obj]:
    return [r for group in rule["spec"]["groups"] for r in group["rules"]]


def dashboard_exprs(dashboard: dict[str, Any]) -> list[str]:
    return [target["expr"] for panel in dashboard["panels"] for target in panel.get("targets", [])]


@pytest.mark.parametrize("overlay", MONITORED)
def test_the_service_monitor_scrapes_the_daemons_metrics(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    monitor, service = one(objects, "ServiceMonitor"), one(objects, "Service")
    assert monitor["apiVersion"] == API_VERSION
    assert monitor.keys() == {"apiVersion", "kind", "metadata", "spec"}
    assert monitor["metadata"]["namespace"] == service["metadata"]["namespace"] == f"config-sync-{overlay}"
    assert monitor["spec"].keys() == {"selector", "endpoints"}
    # it selects the Service (in its own namespace, the default) and no other object's labels matter
    selector = monitor["spec"]["selector"]
    assert selector.keys() == {"matchLabels"}
    assert selector["matchLabels"].items() <= service["metadata"]["labels"].items()
    (endpoint,) = monitor["spec"]["endpoints"]
    assert endpoint.keys() <= {"port", "path", "interval", "scrapeTimeout"}
    assert endpoint["port"] in {p["name"] for p in service["spec"]["ports"]}
    assert endpoint["path"] == "/metrics"
    assert DURATION.fullmatch(endpoint["interval"]) and DURATION.fullmatch(endpoint["scrapeTimeout"])


@pytest.mark.parametrize("overlay", MONITORED)
def test_the_prometheus_rule_has_the_alerts(rendered: dict[str, list[Obj]], overlay: str) -> None:
    rule = one(rendered[overlay], "PrometheusRule")
    assert rule["apiVersion"] == API_VERSION
    assert rule.keys() == {"apiVersion", "kind", "metadata", "spec"}
    assert rule["metadata"]["namespace"] == f"config-sync-{overlay}"
    assert rule["spec"].keys() == {"groups"}
    for group in rule["spec"]["groups"]:
        assert group.keys() <= {"name", "interval", "rules"} and group["name"] and group["rules"]
    alerts = rules_of(rule)
    assert {a["alert"] for a in alerts} == ALERTS
    for alert in alerts:
        assert alert.keys() <= {"alert", "expr", "for", "labels", "annotations"}, alert["alert"]
        assert isinstance(alert["expr"], str) and DURATION.fullmatch(alert["for"]), alert["alert"]
        assert alert["labels"]["severity"] in {"critical", "warning"}, alert["alert"]
        assert alert["annotations"].keys() == {"summary", "description"}, alert["alert"]
    by_name = {a["alert"]: a for a in alerts}
    assert 'health="DRIFTED"' in by_name["ConfigSyncAgentsDrifted"]["expr"]
    assert 'health="MISSING"' in by_name["ConfigSyncAgentsMissing"]["expr"]
    for name in ("ConfigSyncAgentsDrifted", "ConfigSyncAgentsMissing"):
        assert LIVE_HEALTH in by_name[name]["expr"]


@pytest.mark.parametrize("overlay", MONITORED)
def test_the_sweep_alert_is_three_reconcile_intervals(rendered: dict[str, list[Obj]], overlay: str) -> None:
    interval_s = float(settings_configmap(rendered[overlay])["data"]["RECONCILE_INTERVAL_S"])
    (stalled,) = [
        a for a in rules_of(one(rendered[overlay], "PrometheusRule")) if a["alert"] == "ConfigSyncSweepStalled"
    ]
    threshold = re.fullmatch(r".*\bconfig_sync_seconds_since_last_sweep\b.*> (\d+)", stalled["expr"].strip())
    assert threshold, stalled["expr"]
    assert float(threshold[1]) == 3 * interval_s


def test_alerts_and_dashboard_query_only_metrics_config_sync_exports(rendered: dict[str, list[Obj]]) -> None:
    exported = exported_metric_names()
    assert {"config_sync_agents", "config_sync_dlq_depth", "config_sync_pipecat_calls_total"} <= exported
    queries = [a["expr"] for a in rules_of(one(rendered["prod"], "PrometheusRule"))]
    queries += dashboard_exprs(json.loads(DASHBOARD.read_text()))
    used = {name for query in queries for name in METRIC.findall(query)}
    assert used - exported == {LIVE_HEALTH} - exported, sorted(used - exported)
    assert LIVE_HEALTH in used


@pytest.mark.parametrize("overlay", MONITORED)
def test_the_dashboard_ships_for_grafanas_sidecar(rendered: dict[str, list[Obj]], overlay: str) -> None:
    (configmap,) = [o for o in rendered[overlay] if o["metadata"]["name"] == "config-sync-dashboard"]
    assert configmap["kind"] == "ConfigMap"
    assert configmap["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert configmap["data"] == {"config-sync.json": DASHBOARD.read_text()}


def test_the_dashboard_has_a_panel_for_each_question() -> None:
    dashboard = json.loads(DASHBOARD.read_text())
    panels = dashboard["panels"]
    assert len({p["id"] for p in panels}) == len(panels)
    assert {v["name"] for v in dashboard["templating"]["list"]} == {"datasource", "namespace"}
    for panel in panels:
        assert panel["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, panel["title"]
        for target in panel["targets"]:
            assert 'namespace="$namespace"' in target["expr"], panel["title"]
    exprs = " ".join(dashboard_exprs(dashboard))
    for wanted in (
        "by (sync_status) (config_sync_agents{",
        f"by (health) ({LIVE_HEALTH}{{",
        "config_sync_queue_depth",
        "by (outcome) (rate(config_sync_messages_total",
        "config_sync_pipecat_call_duration_seconds_bucket",
        "config_sync_pipecat_calls_total",
        "config_sync_dlq_depth",
        "config_sync_seconds_since_last_sweep",
        "config_sync_agents_paused",
        "by (result) (rate(config_sync_notifications_total",
    ):
        assert wanted in exprs, wanted


def test_the_dashboard_queries_are_valid_promql(tmp_path: Path) -> None:
    """promtool parses each panel's query, Grafana's variables replaced by values they take."""
    if not PROMTOOL.exists():
        pytest.fail(f"{PROMTOOL} is missing: `make k8s-check` installs it (scripts/install-promtool.sh)")
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [
        e.replace("$namespace", "config-sync-prod").replace("$__rate_interval", "2m")
        for e in dashboard_exprs(dashboard)
    ]
    rules = [{"record": f"dashboard:panel_query_{i}", "expr": expr} for i, expr in enumerate(exprs)]
    path = tmp_path / "dashboard-rules.yaml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "dashboard", "rules": rules}]}))
    result = subprocess.run([str(PROMTOOL), "check", "rules", str(path)], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"SUCCESS: {len(rules)} rules found" in result.stdout
