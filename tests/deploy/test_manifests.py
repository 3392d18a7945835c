"""The Kubernetes manifests as shipped: every overlay rendered with `kubectl kustomize`, each object validated
against the Kubernetes 1.30 schemas (strict: unknown fields and removed or unknown apiVersions fail), and the
properties the deployment relies on asserted: security context, probes, graceful shutdown, replicas, secrets.
The monitoring component's objects (Prometheus Operator kinds, no schema here) are checked in test_monitoring.py.
"""

from __future__ import annotations

import re
import runpy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml  # type: ignore[import-untyped]

from config_sync_service.core.config import Settings, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "k8s"
K8S_VERSION = "1.30"
REPLICAS = {"dev": 1, "staging": 2, "prod": 3}
INGRESS_NAMESPACES = ["ingress-nginx", "monitoring"]  # who may reach port 8000 in staging and prod
OVERLAYS = sorted(REPLICAS)
SECRET_TEMPLATE = K8S / "base" / "secret.template.yaml"
SECRET_KEYS = {
    "DATABASE_URL",
    "REDIS_URL",
    "PIPECAT_API_KEY",
    "PIPECAT_PUBLIC_API_KEY",
    "OPERATOR_TOKEN",
    "AGENT_SECRET_AWS_ACCESS_KEY_ID",
    "AGENT_SECRET_AWS_SECRET_ACCESS_KEY",
    "AGENT_SECRET_TWILIO_ACCOUNT_SID",
    "AGENT_SECRET_TWILIO_AUTH_TOKEN",
}
KINDS = {
    "Namespace",
    "ServiceAccount",
    "ConfigMap",
    "Service",
    "Deployment",
    "HorizontalPodAutoscaler",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "Job",
}
# the monitoring component (k8s/components/monitoring), enabled in staging and prod: its dashboard is a ConfigMap
MONITORING_KINDS = {"PrometheusRule", "ServiceMonitor"}
MONITORED = {"staging", "prod"}

Obj = dict[str, Any]


def render(overlay: str) -> list[Obj]:
    kubectl = shutil.which("kubectl")
    if kubectl is None:
        pytest.fail("kubectl (with built-in kustomize) is needed to render k8s/overlays; see scripts/k8s-check.sh")
    out = subprocess.run(
        [kubectl, "kustomize", str(K8S / "overlays" / overlay)], capture_output=True, text=True, check=False
    )
    assert out.returncode == 0, out.stderr
    return [doc for doc in yaml.safe_load_all(out.stdout) if doc]


@pytest.fixture(scope="module")
def rendered() -> dict[str, list[Obj]]:
    return {overlay: render(overlay) for overlay in OVERLAYS}


def one(objects: list[Obj], kind: str) -> Obj:
    found = [o for o in objects if o["kind"] == kind]
    assert len(found) == 1, f"expected one {kind}, got {len(found)}"
    return found[0]


def settings_configmap(objects: list[Obj]) -> Obj:
    """The generated ConfigMap of settings (the other one, in monitored overlays, is the Grafana dashboard)."""
    found = [o for o in objects if o["kind"] == "ConfigMap" and o["metadata"]["name"].startswith("config-sync-config-")]
    assert len(found) == 1, f"expected one settings ConfigMap, got {len(found)}"
    return found[0]


def configmap_data(objects: list[Obj]) -> dict[str, str]:
    data: dict[str, str] = settings_configmap(objects)["data"]
    return data


def secret_template() -> Obj:
    template: Obj = yaml.safe_load(SECRET_TEMPLATE.read_text())
    return template


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_every_object_is_valid_kubernetes(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    monitoring = MONITORING_KINDS if overlay in MONITORED else set()
    assert {o["kind"] for o in objects} == KINDS | monitoring  # and so no Secret: the real one is created out of band
    for obj in [*(o for o in objects if o["kind"] not in MONITORING_KINDS), secret_template()]:
        # raises ValidationError (unknown field, wrong type) or SchemaNotFoundError (removed/unknown apiVersion)
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)


def test_a_removed_api_version_is_fatal() -> None:
    old_pdb = {"apiVersion": "policy/v1beta1", "kind": "PodDisruptionBudget", "metadata": {"name": "x"}, "spec": {}}
    with pytest.raises(kubernetes_validate.SchemaNotFoundError):
        kubernetes_validate.validate(old_pdb, K8S_VERSION, strict=True)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_pods_are_locked_down(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for kind in ("Deployment", "Job"):
        pod = one(rendered[overlay], kind)["spec"]["template"]["spec"]
        assert pod["automountServiceAccountToken"] is False
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == pod["securityContext"]["runAsGroup"] == 10001
        assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        tmp_volumes = {v["name"] for v in pod["volumes"] if "emptyDir" in v}
        for container in pod["containers"]:
            sc = container["securityContext"]
            assert sc["runAsNonRoot"] is True and sc["runAsUser"] == 10001
            assert sc["readOnlyRootFilesystem"] is True
            assert sc["allowPrivilegeEscalation"] is False
            assert sc["capabilities"] == {"drop": ["ALL"]}
            assert {"cpu", "memory"} <= container["resources"]["requests"].keys()
            assert {"cpu", "memory"} <= container["resources"]["limits"].keys()
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts["/tmp"] in tmp_volumes  # the only writable path (prometheus multiprocess files)
    service_account = one(rendered[overlay], "ServiceAccount")
    assert service_account["automountServiceAccountToken"] is False


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_probes_and_graceful_shutdown(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    deployment = one(rendered[overlay], "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["ports"] == [{"name": "http", "containerPort": 8000, "protocol": "TCP"}]
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["startupProbe"]["httpGet"]["path"] == "/healthz"
    assert deployment["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0

    # Kubernetes waits terminationGracePeriodSeconds from the start of preStop; gunicorn needs its
    # graceful_timeout (computed from the same SHUTDOWN_GRACE_S) after the preStop sleep.
    grace_s = float(configmap_data(rendered[overlay])["SHUTDOWN_GRACE_S"])
    monkeypatch.setenv("SHUTDOWN_GRACE_S", str(grace_s))
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))  # the config only sets a default
    gunicorn_conf = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    command = container["lifecycle"]["preStop"]["exec"]["command"]
    assert command[0] == "sleep"
    pre_stop_s = float(command[1])
    assert gunicorn_conf["graceful_timeout"] > grace_s
    assert pod["terminationGracePeriodSeconds"] > pre_stop_s + gunicorn_conf["graceful_timeout"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_replicas_autoscaling_and_disruption(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    replicas = one(objects, "Deployment")["spec"]["replicas"]
    hpa = one(objects, "HorizontalPodAutoscaler")["spec"]
    assert replicas == REPLICAS[overlay]
    assert hpa["minReplicas"] == replicas < hpa["maxReplicas"]
    assert hpa["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "config-sync"}
    assert one(objects, "PodDisruptionBudget")["spec"]["maxUnavailable"] == 1
    namespace = f"config-sync-{overlay}"
    assert one(objects, "Namespace")["metadata"]["name"] == namespace
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == namespace, obj["metadata"]["name"]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_selectors_and_network_policy(rendered: dict[str, list[Obj]], overlay: str) -> None:
    objects = rendered[overlay]
    server_labels = one(objects, "Deployment")["spec"]["template"]["metadata"]["labels"]
    job_labels = one(objects, "Job")["spec"]["template"]["metadata"]["labels"]

    def selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
        return selector.items() <= labels.items()

    service_selector = one(objects, "Service")["spec"]["selector"]
    pdb_selector = one(objects, "PodDisruptionBudget")["spec"]["selector"]["matchLabels"]
    for selector in (service_selector, pdb_selector):  # traffic and disruption budget: server pods only
        assert selects(selector, server_labels) and not selects(selector, job_labels)

    policy = one(objects, "NetworkPolicy")["spec"]
    assert selects(policy["podSelector"]["matchLabels"], server_labels)
    assert selects(policy["podSelector"]["matchLabels"], job_labels)
    assert policy["policyTypes"] == ["Ingress", "Egress"]
    ingress = [(p["port"], p["protocol"]) for rule in policy["ingress"] for p in rule["ports"]]
    assert ingress == [(8000, "TCP")]
    (rule,) = policy["ingress"]
    if overlay == "dev":
        assert "from" not in rule  # open on purpose: see k8s/overlays/dev/kustomization.yaml
    else:
        # only whole namespaces picked by their immutable name label; no ipBlock, no pod selector. The kubelet's
        # probes come from the pod's own node, which a NetworkPolicy always admits.
        assert all(peer.keys() == {"namespaceSelector"} for peer in rule["from"]), rule["from"]
        names = [peer["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] for peer in rule["from"]]
        assert sorted(names) == INGRESS_NAMESPACES
    egress = {(p["port"], p["protocol"]) for rule in policy["egress"] for p in rule["ports"]}
    assert egress == {(53, "UDP"), (53, "TCP"), (5432, "TCP"), (6379, "TCP"), (443, "TCP")}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_images(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for kind in ("Deployment", "Job"):
        (container,) = one(rendered[overlay], kind)["spec"]["template"]["spec"]["containers"]
        image: str = container["image"]
        if overlay == "dev":
            assert image.endswith(":dev") and container["imagePullPolicy"] == "Always"
        else:
            assert re.fullmatch(r"[\w./-]+/config-sync:[\w.-]+@sha256:[0-9a-f]{64}", image), image
    assert one(rendered[overlay], "Job")["spec"]["template"]["spec"]["containers"][0]["command"] == [
        "config-sync",
        "migrate",
    ]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_settings_come_from_the_configmap_and_the_named_secret(
    rendered: dict[str, list[Obj]], overlay: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("REQUIRE_OPERATOR_TOKEN", raising=False)  # only the ConfigMap decides here
    objects = rendered[overlay]
    data = configmap_data(objects)
    configmap_name = settings_configmap(objects)["metadata"]["name"]
    secret_name = f"config-sync-secrets-{overlay}"
    (server,) = one(objects, "Deployment")["spec"]["template"]["spec"]["containers"]
    assert server["envFrom"] == [{"configMapRef": {"name": configmap_name}}, {"secretRef": {"name": secret_name}}]
    (job,) = one(objects, "Job")["spec"]["template"]["spec"]["containers"]
    assert job["envFrom"] == [{"configMapRef": {"name": configmap_name}}]
    assert job["env"] == [
        {"name": "DATABASE_URL", "valueFrom": {"secretKeyRef": {"name": secret_name, "key": "DATABASE_URL"}}}
    ]

    # every ConfigMap key is a real setting (or gunicorn's WEB_CONCURRENCY), none is a secret, and they load
    fields = {name.upper() for name in Settings.model_fields}
    assert set(data) - fields <= {"WEB_CONCURRENCY"}
    assert not set(data) & SECRET_KEYS
    from_configmap = {key.lower(): value for key, value in data.items() if key in fields}
    database_url = "postgresql://u@db:5432/config_sync"
    settings = load_settings(database_url=database_url, agent_secrets={}, operator_token="t0ken", **from_configmap)
    assert settings.require_operator_token is (overlay != "dev")  # staging and prod never run open
    if settings.require_operator_token:
        with pytest.raises(SettingsError, match=r"^config-sync: setting OPERATOR_TOKEN is required when"):
            load_settings(database_url=database_url, agent_secrets={}, operator_token=None, **from_configmap)
    assert settings.log_format == "json"
    assert settings.log_level == ("DEBUG" if overlay == "dev" else "INFO")
    assert settings.shutdown_grace_s == 25


def test_the_secret_template_holds_no_real_values() -> None:
    template = secret_template()
    assert template["kind"] == "Secret" and "data" not in template
    assert set(template["stringData"]) == SECRET_KEYS
    assert set(template["stringData"].values()) == {"change-me"}
    fields = {name.upper() for name in Settings.model_fields}
    assert all(key in fields or key.startswith("AGENT_SECRET_") for key in SECRET_KEYS)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_checkov_skips_carry_a_reason(rendered: dict[str, list[Obj]], overlay: str) -> None:
    for obj in rendered[overlay]:
        for key, value in obj["metadata"].get("annotations", {}).items():
            if "checkov.io/skip" in key:
                check, _, reason = value.partition("=")
                assert re.fullmatch(r"CKV2?_[A-Z0-9]+_\d+", check), value
                assert len(reason) > 20 and "=" not in reason, value  # a second `=` crashes checkov


def test_the_image_runs_gunicorn_as_a_fixed_non_root_user() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    bases = re.findall(r"^FROM (\S+)", dockerfile, re.MULTILINE)
    # both stages on the same bytes: pinned by the digest of the multi-arch index, the tag kept for readers
    assert len(bases) == 2 and bases[0] == bases[1], bases
    assert re.fullmatch(r"python:3\.12-slim@sha256:[0-9a-f]{64}", bases[0]), bases[0]
    assert "USER 10001:10001" in dockerfile
    assert "poetry install --only main --no-root" in dockerfile
    assert 'CMD ["gunicorn", "-c", "gunicorn.conf.py", "config_sync_service.main:app"]' in dockerfile
    assert "EXPOSE 8000" in dockerfile
