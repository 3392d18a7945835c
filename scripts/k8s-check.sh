#!/usr/bin/env bash
# Offline checks of what we ship: render every k8s overlay, then kubernetes-validate (strict, pinned Kubernetes
# version), promtool (the monitoring component's alert rules and their unit tests), yamllint, checkov (rendered
# overlays + Dockerfiles, one call) and hadolint. `make k8s-check` runs it after installing .venv
# (kubernetes-validate, yamllint, hadolint: dev group), .venv-lint (checkov) and promtool (.tools/prometheus).
# kubernetes-validate has no schemas for the Prometheus Operator's kinds (PrometheusRule, ServiceMonitor): each
# render is split (scripts/k8s-split.py) into the objects it validates strictly and the rule groups promtool checks;
# tests/deploy/test_monitoring.py checks the operator objects' shape.
# Checks scan the rendered output, not the raw tree (a patch is not a whole object). checkov findings may only be
# skipped in place, on the object, with a reason: `checkov.io/skipN: CKV_ID=reason` (no `=` inside the reason).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${K8S_VERSION:-1.30}
BIN=${BIN:-.venv/bin}
CHECKOV=${CHECKOV:-.venv-lint/bin/checkov}
PROMTOOL=${PROMTOOL:-.tools/prometheus/usr/bin/promtool}
K8S_DIR=${K8S_DIR:-k8s}      # the tree to check (tests point it at a broken copy)
OUT=${K8S_OUT:-build/k8s}    # where the rendered overlays go
OVERLAYS=(dev staging prod)

fail() { echo "k8s-check: $*" >&2; exit 1; }
# step NAME CMD...: run CMD, print the time it took, stop on failure. CMD runs in a subshell with errexit on,
# outside any `if`, `!`, `&&` or `||`: inside those bash switches errexit off for every function they call, so
# a failing command in the middle of a step (one overlay's render) went unnoticed and the step printed "ok".
step() {
  local name=$1 start=${EPOCHREALTIME/./} ms status=0; shift
  set +e
  (set -e; "$@")
  status=$?
  set -e
  [ "$status" -eq 0 ] || fail "$name failed (exit $status)"
  ms=$(( (${EPOCHREALTIME/./} - start) / 1000 ))
  printf 'k8s-check: %-20s ok (%d.%03d s)\n' "$name" $((ms / 1000)) $((ms % 1000))
}

for tool in "$BIN/kubernetes-validate" "$BIN/yamllint" "$BIN/hadolint"; do
  [ -x "$tool" ] || fail "$tool is missing: run 'make install' (they are in the dev group)"
done
[ -x "$CHECKOV" ] || fail "$CHECKOV is missing: run 'make k8s-check' (it installs checkov into .venv-lint)"
[ -x "$PROMTOOL" ] || fail "$PROMTOOL is missing: run 'make k8s-check' (scripts/install-promtool.sh installs it)"

# kubectl ships kustomize (v5); a standalone kustomize binary works too.
if command -v kubectl >/dev/null 2>&1; then
  render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
else
  fail "needs kubectl (>= 1.27, with built-in kustomize) or kustomize on PATH to render $K8S_DIR/overlays"
fi

MONITORING=$K8S_DIR/components/monitoring
rendered=() core=()
for env in "${OVERLAYS[@]}"; do rendered+=("$OUT/$env.yaml"); core+=("$OUT/$env.core.yaml"); done
# each overlay to $OUT/ENV.yaml, split into ENV.core.yaml (built-in kinds) and ENV.rules.yaml (if it has alerts)
render_all() {
  mkdir -p "$OUT"
  for env in "${OVERLAYS[@]}"; do
    render "$K8S_DIR/overlays/$env" > "$OUT/$env.yaml"
    "$BIN/python" scripts/k8s-split.py "$OUT/$env.yaml" "$OUT/$env.core.yaml" "$OUT/$env.rules.yaml"
  done
}

# The CLI only warns (exit 0) on a kind or apiVersion it has no schema for, e.g. a removed policy/v1beta1:
# treat that warning as a failure too.
validate() {
  local report
  report=$("$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${core[@]}" "$K8S_DIR/base/secret.template.yaml" 2>&1) \
    || { echo "$report" >&2; return 1; }
  if grep -q "^WARN\|could not be validated" <<<"$report"; then echo "$report" >&2; return 1; fi
}

# The rules every overlay renders, then the component's own rules against its unit tests (tests/*.yaml name
# `rules.yaml` beside them: both are copied into $OUT/promtool).
promtool_rules() {
  local rules=() tests=("$MONITORING"/tests/*.yaml) copies=() test
  for env in "${OVERLAYS[@]}"; do if [ -f "$OUT/$env.rules.yaml" ]; then rules+=("$OUT/$env.rules.yaml"); fi; done
  [ ${#rules[@]} -gt 0 ] || { echo "no overlay renders a PrometheusRule (staging and prod enable $MONITORING)" >&2; return 1; }
  [ -f "${tests[0]}" ] || { echo "no promtool unit tests in $MONITORING/tests" >&2; return 1; }
  "$PROMTOOL" check rules "${rules[@]}"
  rm -rf "$OUT/promtool" && mkdir -p "$OUT/promtool"
  "$BIN/python" scripts/k8s-split.py "$MONITORING/prometheusrule.yaml" /dev/null "$OUT/promtool/rules.yaml"
  for test in "${tests[@]}"; do cp "$test" "$OUT/promtool/"; copies+=("$OUT/promtool/${test##*/}"); done
  "$PROMTOOL" test rules "${copies[@]}"
}

dockerfiles=(Dockerfile)
[ -f agent_bot/Dockerfile ] && dockerfiles+=(agent_bot/Dockerfile)

step "render overlays" render_all
step "kubernetes-validate" validate
step "promtool" promtool_rules
step "yamllint" "$BIN/yamllint" -s -c "$K8S_DIR/.yamllint.yaml" "$K8S_DIR"
step "checkov" "$CHECKOV" -f "${rendered[@]}" "${dockerfiles[@]}" \
  --framework kubernetes dockerfile --skip-download --compact --quiet
step "hadolint" "$BIN/hadolint" "${dockerfiles[@]}"
echo "k8s-check: all passed (${OVERLAYS[*]}; Kubernetes $K8S_VERSION; ${dockerfiles[*]})"
