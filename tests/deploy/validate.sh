#!/usr/bin/env bash
# Validates deploy/ offline, with the real tools:
#  1. each kustomize overlay renders (kubectl kustomize) and every object
#     passes the Kubernetes OpenAPI schemas, strictly (kubernetes-validate);
#  2. the rendered objects hold the security settings and agree with their
#     own configuration files (check_manifests.py);
#  3. the agent, confined to exactly the capabilities the DaemonSet grants,
#     names the owners of other users' sockets, and loses them without
#     either capability (so both are needed, and enough);
#  4. install.sh installs into a scratch root, twice, keeping the config;
#     `systemd-analyze verify` finds nothing to say about the installed
#     units, their exposure score stays low, and the real binaries accept
#     the configuration install.sh wrote;
#  5. the README's `ca init` for Kubernetes gives the files the Secret
#     expects, with the Service name the agents dial;
#  6. the Dockerfiles build --locked from rust:1.95-bookworm into a
#     distroless image that runs as a non-root uid (no engine here to build);
#  7. the Prometheus alert rules pass `promtool check rules` and their unit
#     tests (`promtool test rules`); the Grafana dashboard is JSON whose
#     every panel has a PromQL expr (that each names a metric the collector
#     exports is checked against a real scrape by tests/tests/ecosystem.rs);
#  8. self-test: a copy of deploy/ broken in one way at a time must fail the
#     check meant to catch it.
# Prints each failure and "validate: N passed, M failed"; exits 1 on any.
#
# Needs root, kubectl (Debian: kubernetes-client), python3 with
# kubernetes-validate (PyPI), systemd (systemd-analyze, systemd-sysusers),
# openssl, util-linux (setpriv) and cargo (builds the two binaries unless
# GAMSA_BIN_DIR names a directory holding them).
# KUBECTLS="kubectl /path/to/other/kubectl": render with each, compare.
# K8S_VERSIONS: the Kubernetes versions to validate against.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
KUBECTLS=${KUBECTLS:-kubectl}
# 1.30: the oldest with recursiveReadOnly (the agent's /host mount).
K8S_VERSIONS=${K8S_VERSIONS:-1.30.0 1.37.0}
OVERLAYS=(single ha)

passes=0
failures=0
pass() { passes=$((passes + 1)); echo "ok   $*"; }
fail() { failures=$((failures + 1)); echo "FAIL $*"; }

missing() { echo "validate.sh: $1 is missing: $2" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || missing "root" "run as root (install.sh into a scratch root, setpriv)"
for k in $KUBECTLS; do
  command -v "$k" >/dev/null || missing "$k" "apt-get install kubernetes-client"
done
command -v kubernetes-validate >/dev/null || missing kubernetes-validate "pip install kubernetes-validate"
python3 -c 'import yaml, tomllib' 2>/dev/null || missing "python3 yaml/tomllib" "Python 3.11+ with PyYAML (pip install kubernetes-validate brings it)"
command -v systemd-analyze >/dev/null || missing systemd-analyze "apt-get install systemd"
command -v systemd-sysusers >/dev/null || missing systemd-sysusers "apt-get install systemd"
command -v openssl >/dev/null || missing openssl "apt-get install openssl"
command -v setpriv >/dev/null || missing setpriv "apt-get install util-linux"
command -v promtool >/dev/null || missing promtool "apt-get install prometheus"
[ -d /usr/lib/systemd/system ] || missing /usr/lib/systemd/system "apt-get install systemd"

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${GAMSA_BIN_DIR:-}" ]; then
  bin=$GAMSA_BIN_DIR
else
  echo "building gamsa-agent and gamsa-collector (cargo build)..."
  (cd "$repo" && cargo build -q -p gamsa-agent -p gamsa-collector --bins)
  bin=${CARGO_TARGET_DIR:-$repo/target}/debug
fi
for b in gamsa-agent gamsa-collector; do
  [ -x "$bin/$b" ] || missing "$bin/$b" "cargo build -p $b"
done

# --- 1 and 2: render, schemas, manifest checks -------------------------
# Renders every overlay of $1 (a deploy/ directory) into $2; returns 1 if
# any check fails.
check_kubernetes() {
  local deploy=$1 out=$2 before=$failures overlay k n log
  mkdir -p "$out"
  for overlay in "${OVERLAYS[@]}"; do
    local renders=()
    n=0
    for k in $KUBECTLS; do
      n=$((n + 1))
      log=$out/$overlay.$n.err
      if "$k" kustomize "$deploy/kubernetes/overlays/$overlay" >"$out/$overlay.$n.yaml" 2>"$log"; then
        pass "$overlay: rendered by $k"
        renders+=("$out/$overlay.$n.yaml")
      else
        fail "$overlay: $k kustomize: $(head -c 400 "$log")"
      fi
    done
    [ ${#renders[@]} -gt 0 ] || continue
    local v
    for v in $K8S_VERSIONS; do
      if kubernetes-validate --strict --quiet -k "$v" "${renders[0]}" >"$out/$overlay.kv.log" 2>&1; then
        pass "$overlay: every object valid against the Kubernetes $v schemas (strict)"
      else
        fail "$overlay: Kubernetes $v schemas: $(grep -v '^INFO' "$out/$overlay.kv.log" | head -5)"
      fi
    done
    if GAMSA_DEPLOY_DIR=$deploy python3 "$here/check_manifests.py" "$overlay" "${renders[@]}" >"$out/$overlay.check.log"; then
      pass "$(tail -1 "$out/$overlay.check.log")"
    elif grep -q '^FAIL ' "$out/$overlay.check.log"; then
      while IFS= read -r line; do fail "${line#FAIL }"; done < <(grep '^FAIL ' "$out/$overlay.check.log")
    else
      fail "$overlay: check_manifests.py: $(tail -5 "$out/$overlay.check.log")"
    fi
  done
  [ "$failures" -eq "$before" ]
}

# --- 3: the DaemonSet's capabilities, exercised --------------------------
# Starts a listener as `nobody` and one as root with full capabilities, then
# runs `gamsa-agent scan --probe ports` as uid 0 with only the given
# capabilities (bounding set, no_new_privs: what the container gets) and
# prints how many of the two listeners it found an owner for.
owners_found() {
  local caps=$1 out=$work/caps.json
  setpriv --no-new-privs --inh-caps=-all --bounding-set="-all${caps}" -- \
    "$bin/gamsa-agent" scan --once --probe ports >"$out" 2>"$work/caps.err" || {
    echo "agent failed: $(head -c 300 "$work/caps.err")"; return; }
  python3 - "$out" "$port_nobody" "$port_root" <<'EOF'
import json, sys
ports = {int(p) for p in sys.argv[2:]}
for line in open(sys.argv[1]):
    e = json.loads(line)
    if e["probe"] == "ports":
        owned = {s["port"] for s in e["listeningSockets"]["sockets"]
                 if s.get("process", {}).get("pid") and s["address"] == "127.0.0.1"}
        print(len(ports & owned))
        break
else:
    print("no ports evidence")
EOF
}

# listen NAME [COMMAND-PREFIX...]: starts a TCP listener on 127.0.0.1 that
# sleeps until killed, and writes its port to $work/listen.NAME.
listen() {
  local name=$1; shift
  "$@" /usr/bin/python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen()
print(s.getsockname()[1], flush=True); time.sleep(600)' >"$work/listen.$name" &
  pids+=($!)
  local i
  for i in $(seq 50); do [ -s "$work/listen.$name" ] && break; sleep 0.1; done
}

check_capabilities() {
  local rendered=$1 caps granted c
  caps=$(python3 - "$rendered" <<'EOF'
import sys, yaml
for o in yaml.safe_load_all(open(sys.argv[1])):
    if o and o["kind"] == "DaemonSet" and o["metadata"]["name"] == "gamsa-agent":
        add = o["spec"]["template"]["spec"]["containers"][0]["securityContext"]["capabilities"].get("add", [])
        print(" ".join(c.lower() for c in add))
EOF
)
  listen nobody setpriv --reuid=65534 --regid=65534 --clear-groups
  listen root
  port_nobody=$(cat "$work/listen.nobody")
  port_root=$(cat "$work/listen.root")
  if [ -z "$port_nobody" ] || [ -z "$port_root" ]; then
    fail "could not start the test listeners (/usr/bin/python3 as nobody and as root)"
    return
  fi
  granted=""
  for c in $caps; do granted+=",+$c"; done
  local found
  found=$(owners_found "$granted")
  if [ "$found" = 2 ]; then
    pass "agent with the DaemonSet's capabilities [$caps] names both listeners' owners (nobody's, full-capability root's)"
  else
    fail "agent with the DaemonSet's capabilities [$caps] named $found of 2 listeners' owners"
  fi
  for c in dac_read_search sys_ptrace; do
    found=$(owners_found "$(tr ' ' '\n' <<<"$caps" | grep -vx "$c" | sed 's/^/,+/' | tr -d '\n')")
    if [ "$found" != 2 ]; then
      pass "without $c the agent misses an owner ($found of 2): the capability is needed"
    else
      fail "without $c the agent still names both owners: the DaemonSet grants more than it needs"
    fi
  done
}

# --- 4: systemd units and install.sh --------------------------------------
check_systemd() {
  local deploy=$1 root=$2 before=$failures u log
  mkdir -p "$root/usr/lib/systemd"
  cp -a /usr/lib/systemd/system "$root/usr/lib/systemd/"
  if ROOT=$root BIN_DIR=$bin "$deploy/systemd/install.sh" all >"$root.install1" 2>&1; then
    pass "install.sh all into a scratch root"
  else
    fail "install.sh: $(tail -5 "$root.install1")"
    return 1
  fi
  for u in gamsa-agent gamsa-collector; do
    log=$root.verify.$u
    if systemd-analyze verify --root="$root" "$u.service" >"$log" 2>&1 && [ ! -s "$log" ]; then
      pass "systemd-analyze verify $u.service: clean"
    else
      fail "systemd-analyze verify $u.service: $(head -5 "$log")"
    fi
  done
  # Exposure scores (0 best, 10 worst) measured when written: collector 1.2,
  # agent 2.5 (it must see every process and read the host's network).
  local -A limit=([gamsa-collector]=12 [gamsa-agent]=25)
  for u in gamsa-agent gamsa-collector; do
    if systemd-analyze security --offline=yes --root="$root" --threshold="${limit[$u]}" "$u.service" >"$root.sec.$u" 2>&1; then
      pass "systemd-analyze security $u.service: $(grep -o 'exposure level.*' "$root.sec.$u")"
    else
      fail "systemd-analyze security $u.service above ${limit[$u]}/100: $(grep -o 'exposure level.*' "$root.sec.$u")"
    fi
  done
  local agent_conf=$root/etc/gamsa-agent/agent.toml coll_conf=$root/etc/gamsa/collector.toml
  echo "# edited by the operator" >>"$agent_conf"
  local sum
  sum=$(cat "$agent_conf" "$coll_conf" | sha256sum)
  if ROOT=$root BIN_DIR=$bin "$deploy/systemd/install.sh" all >"$root.install2" 2>&1 &&
    [ "$(grep -c 'kept existing' "$root.install2")" -eq 2 ] &&
    [ "$(cat "$agent_conf" "$coll_conf" | sha256sum)" = "$sum" ]; then
    pass "install.sh again: succeeds and keeps both existing configs"
  else
    fail "install.sh second run: $(tail -5 "$root.install2")"
  fi
  # With ProtectSystem=strict only the unit's StateDirectory is writable:
  # the agent's spool (state_dir) and its enrolled key and certificate.
  local state problems
  state=/var/lib/$(sed -n 's/^StateDirectory=//p' "$root/etc/systemd/system/gamsa-agent.service")
  problems=$(python3 - "$agent_conf" "$state" <<'EOF'
import sys, tomllib
c = tomllib.load(open(sys.argv[1], "rb"))
state = sys.argv[2].rstrip("/")
paths = {"state_dir": c.get("state_dir", "/var/lib/gamsa-agent"),
         "collector.cert": c["collector"]["cert"], "collector.key": c["collector"]["key"]}
for k, v in paths.items():
    if state == "/var/lib" or not (v == state or v.startswith(state + "/")):
        print(f"{k} {v} outside the unit's writable StateDirectory {state}")
if c.get("labels"):
    print(f"example labels kept: {c['labels']}")
if c.get("probes", {}).get("tls", {}).get("targets"):
    print("example TLS targets kept")
EOF
)
  if [ -z "$problems" ]; then
    pass "installed agent.toml: spool, cert and key in the unit's StateDirectory $state; no example labels or targets"
  else
    fail "installed agent.toml: $problems"
  fi
  local uid
  uid=$(awk -F: '$1 == "gamsa-agent" { print $3 }' "$root/etc/passwd")
  if [ -n "$uid" ] && [ "$uid" != 0 ] && [ "$(stat -c %u "$root/var/lib/gamsa-agent")" = "$uid" ] &&
    [ "$(stat -c %a "$root/var/lib/gamsa-agent")" = 700 ]; then
    pass "install.sh: user gamsa-agent owns /var/lib/gamsa-agent (0700)"
  else
    fail "install.sh: gamsa-agent user or /var/lib/gamsa-agent ownership wrong"
  fi
  if "$root/usr/local/bin/gamsa-agent" --config "$agent_conf" scan --once --probe host >/dev/null 2>"$root.agent.err"; then
    pass "gamsa-agent accepts the installed agent.toml"
  else
    fail "gamsa-agent rejects the installed agent.toml: $(head -3 "$root.agent.err")"
  fi
  if "$root/usr/local/bin/gamsa-collector" ca init --config "$coll_conf" --data-dir "$root.vmdata" >/dev/null 2>"$root.coll.err"; then
    pass "gamsa-collector accepts the installed collector.toml (ca init)"
  else
    fail "gamsa-collector rejects the installed collector.toml: $(head -3 "$root.coll.err")"
  fi
  [ "$failures" -eq "$before" ]
}

# --- 5: the Kubernetes CA, as deploy/README.md makes it ------------------
check_k8s_pki() {
  local d=$work/k8s-pki
  if ! "$bin/gamsa-collector" ca init --config "$repo/deploy/kubernetes/overlays/single/collector.toml" \
    --data-dir "$d" >/dev/null 2>"$work/pki.err"; then
    fail "ca init for Kubernetes: $(head -3 "$work/pki.err")"
    return
  fi
  local files
  files=$(cd "$d/pki" && ls | sort | tr '\n' ' ')
  if [ "$files" = "ca.crt ca.key collector.crt collector.key redaction.key snapshot-signing.key snapshot-signing.pub " ]; then
    pass "ca init gives exactly the keys of Secret gamsa-collector-pki ($files)"
  else
    fail "ca init gave [$files], the Secret's volume expects ca.crt ca.key collector.crt collector.key redaction.key snapshot-signing.key snapshot-signing.pub"
  fi
  local host
  host=$(python3 -c 'import sys, tomllib; print(tomllib.load(open(sys.argv[1], "rb"))["collector"]["endpoints"][0].split("//")[1].rsplit(":", 1)[0])' \
    "$repo/deploy/kubernetes/base/agent.toml")
  if openssl x509 -in "$d/pki/collector.crt" -noout -ext subjectAltName | grep -q "DNS:$host\(,\|$\)"; then
    pass "collector certificate names $host, the endpoint in the agents' agent.toml"
  else
    fail "collector certificate lacks DNS:$host: $(openssl x509 -in "$d/pki/collector.crt" -noout -ext subjectAltName | tail -1)"
  fi
}

# --- 6: the images, what can be checked without a container engine ----------
check_images() {
  local deploy=$1 before=$failures name f problems user
  for name in agent collector; do
    f=$deploy/docker/Dockerfile.$name
    problems=()
    grep -qx 'FROM rust:1.95-bookworm AS build' "$f" || problems+=("builder is not rust:1.95-bookworm")
    grep -q "cargo build --release --locked -p gamsa-$name --bin gamsa-$name" "$f" ||
      problems+=("does not build gamsa-$name --locked")
    [[ $(grep '^FROM ' "$f" | tail -1) == "FROM gcr.io/distroless/cc-debian12"* ]] ||
      problems+=("runtime stage is not distroless/cc-debian12")
    # The USER in force in the last stage: numeric and not root.
    user=$(awk '/^FROM /{u=""} /^USER /{u=$2} END{print u}' "$f")
    [[ ${user%%:*} =~ ^[0-9]+$ ]] && [ "${user%%:*}" -ne 0 ] || problems+=("runs as '${user:-root}', not a numeric non-root uid")
    grep -qx '.git' "$f.dockerignore" && grep -q 'target' "$f.dockerignore" ||
      problems+=("$f.dockerignore does not keep .git and target out of the context")
    if [ ${#problems[@]} -eq 0 ]; then
      pass "Dockerfile.$name: rust:1.95-bookworm build, --locked, distroless runtime as uid $user"
    else
      fail "Dockerfile.$name: ${problems[*]}"
    fi
  done
  [ "$failures" -eq "$before" ]
}

# --- 7: Prometheus rules and the Grafana dashboard ---------------------------
check_monitoring() {
  local deploy=$1 before=$failures out problems
  if out=$(promtool check rules "$deploy/prometheus/gamsa-alerts.yml" 2>&1); then
    pass "promtool check rules gamsa-alerts.yml: $(grep -o '[0-9]* rules found' <<<"$out")"
  else
    fail "promtool check rules gamsa-alerts.yml: $(tail -3 <<<"$out")"
  fi
  if out=$(cd "$deploy/prometheus" && promtool test rules gamsa-alerts_test.yml 2>&1); then
    pass "promtool test rules gamsa-alerts_test.yml"
  else
    fail "promtool test rules gamsa-alerts_test.yml: $(grep -v '^ *$' <<<"$out" | head -8)"
  fi
  problems=$(python3 - "$deploy/grafana/gamsa-dashboard.json" <<'EOF'
import json, sys
try:
    d = json.load(open(sys.argv[1]))
except ValueError as e:
    print(f"not JSON: {e}")
    sys.exit()
if not d.get("panels"):
    print("no panels")
for p in d.get("panels", []):
    for t in p.get("targets") or [None]:
        if not t or "gamsa_collector_" not in t.get("expr", ""):
            print(f"panel {p.get('title')!r}: a target without a gamsa_collector_ expr")
EOF
)
  if [ -z "$problems" ]; then
    pass "grafana/gamsa-dashboard.json: JSON, every panel queries gamsa_collector_ metrics"
  else
    fail "grafana/gamsa-dashboard.json: $problems"
  fi
  [ "$failures" -eq "$before" ]
}

# --- 8: self-test ------------------------------------------------------
# mutate FILE SED-EXPRESSION CHECK EXPECTED DESCRIPTION: in a fresh copy of
# deploy/, apply the edit (which must change the file); then CHECK must fail
# with a message containing EXPECTED (so it failed for the intended reason).
mutate() {
  local file=$1 expr=$2 checker=$3 expect=$4 what=$5 copy=$work/mutant
  rm -rf "$copy" "$copy".*
  cp -a "$repo/deploy" "$copy"
  cp "$copy/$file" "$copy.orig"
  sed -i "$expr" "$copy/$file"
  if cmp -s "$copy/$file" "$copy.orig"; then
    fail "self-test '$what': the edit did not apply to $file"
    return
  fi
  if (
    case $checker in
      kubernetes) check_kubernetes "$copy" "$copy.out" ;;
      systemd) check_systemd "$copy" "$copy.root" ;;
      images) check_images "$copy" ;;
      monitoring) check_monitoring "$copy" ;;
    esac
  ) >"$copy.log" 2>&1; then
    fail "self-test: checks did not catch: $what"
  elif grep '^FAIL' "$copy.log" | grep -qF -- "$expect"; then
    pass "self-test: caught $what"
  else
    fail "self-test: $what failed, but not with '$expect': $(grep '^FAIL' "$copy.log" | head -3)"
  fi
}

echo "== Kubernetes manifests"
check_kubernetes "$repo/deploy" "$work/rendered" || true
echo "== capabilities"
check_capabilities "$work/rendered/single.1.yaml" || fail "capability check could not run"
echo "== systemd"
check_systemd "$repo/deploy" "$work/root" || true
echo "== Kubernetes CA"
check_k8s_pki || fail "CA check could not run"
echo "== images"
check_images "$repo/deploy" || true
echo "== Prometheus rules, Grafana dashboard"
check_monitoring "$repo/deploy" || true
echo "== self-test (each edit below must be caught)"
ds=kubernetes/base/agent-daemonset.yaml
mutate "$ds" '/mountPath: \/host$/{n;s/readOnly: true/readOnly: false/}' kubernetes \
  "host root / mounted read-only at /host" "host root mounted writable"
mutate "$ds" 's/add: \["DAC_READ_SEARCH", "SYS_PTRACE"\]/add: ["DAC_READ_SEARCH", "SYS_PTRACE", "SYS_ADMIN"]/' kubernetes \
  "adds exactly" "an extra capability"
mutate "$ds" '/hostPID: true/d' kubernetes "hostPID is true" "hostPID removed"
mutate "$ds" 's/fieldPath: spec.nodeName/fieldPath: metadata.name/' kubernetes \
  "NODE_NAME from fieldRef" "NODE_NAME from the pod name"
mutate "$ds" 's/- operator: Exists/- key: example.com\/gpu\n          operator: Exists/' kubernetes \
  "tolerates node-role.kubernetes.io/control-plane" "control-plane taint not tolerated"
mutate "$ds" 's/readOnlyRootFilesystem: true/readOnlyRootFilesystem: false/' kubernetes \
  "agent: readOnlyRootFilesystem" "writable root filesystem"
mutate "$ds" 's/drop: \["ALL"\]/drop: ["NET_RAW"]/' kubernetes "capabilities drop ALL" "capabilities not dropped"
mutate "$ds" 's/type: RuntimeDefault/type: Unconfined/' kubernetes \
  "agent: seccompProfile RuntimeDefault" "seccomp Unconfined"
mutate "$ds" '/limits:/,/memory: 64Mi/{/memory: 64Mi/d}' kubernetes "agent: cpu and memory limits" "no memory limit"
mutate "$ds" 's/maxUnavailable: 1/maxUnavailabel: 1/' kubernetes "schemas: ERROR" "a misspelt field"
mutate kubernetes/base/agent.toml 's|^cert = .*|cert = "/etc/gamsa/agent.crt"|' kubernetes \
  "collector.cert" "agent certificate on a read-only mount"
mutate kubernetes/base/agent-rbac.yaml 's/verbs: \["get"\]/verbs: ["get", "list", "watch"]/' kubernetes \
  "ClusterRole grants exactly" "RBAC granting more"
mutate kubernetes/base/agent-rbac.yaml 's/resources: \["deployments"\]/resources: ["deployments", "secrets"]/' kubernetes \
  "Role kube-system/gamsa-agent grants exactly" "a Role reading Secrets in kube-system"
mutate kubernetes/base/collector-networkpolicy.yaml 's/port: http$/port: 9090/' kubernetes \
  "admits only the grpc and http ports" "NetworkPolicy opening another port"
mutate kubernetes/overlays/single/collector.toml 's|^url = .*|url = "sqlite:///tmp/gamsa.db"|' kubernetes \
  "lies on the StatefulSet's persistent volume" "SQLite off the persistent volume"
mutate kubernetes/overlays/ha/collector-deployment.yaml 's/replicas: 2/replicas: 1/' kubernetes \
  "ha: at least 2 replicas" "ha with one replica"
mutate kubernetes/overlays/single/kustomization.yaml '$a labels:\n  - pairs:\n      example.com/x: "y"' kubernetes \
  "need kustomize newer" "a field kubectl 1.20 cannot read"
mutate systemd/gamsa-agent.service 's/^ProtectHome=yes/ProtectHomme=yes/' systemd \
  "verify gamsa-agent.service" "a misspelt unit directive"
mutate systemd/gamsa-collector.service '/^CapabilityBoundingSet=$/d;/^SystemCallFilter=/d' systemd \
  "security gamsa-collector.service above" "collector unit hardening removed"
mutate systemd/gamsa-agent.service 's|^ExecStart=/usr/local/bin/gamsa-agent|ExecStart=/usr/local/bin/gamsa-agentd|' systemd \
  "is not executable" "ExecStart naming a missing binary"
mutate systemd/install.sh 's|key = "/var/lib/gamsa-agent/agent.key"|key = "/etc/gamsa-agent/agent.key"|' systemd \
  "outside the unit's writable StateDirectory" "VM agent key outside its StateDirectory"
mutate systemd/install.sh "s/'targets = \\[|targets = \\[\\]|\\]'/'window = 8|window = 8'/" systemd \
  "example TLS targets kept" "VM agent probing the example's TLS targets"
mutate kubernetes/base/agent.toml 's|^state_dir = .*|state_dir = "/tmp/gamsa-agent"|' kubernetes \
  "state_dir '/tmp/gamsa-agent' lies on a writable hostPath" "agent spool on the pod's emptyDir"
mutate prometheus/gamsa-alerts.yml 's/verdict="N"/verdict="Y"/' monitoring \
  "promtool test rules" "an alert on the wrong verdict"
mutate prometheus/gamsa-alerts.yml 's/^        for: 15m$/        for 15m/' monitoring \
  "promtool check rules" "a rules file that is not valid"
mutate grafana/gamsa-dashboard.json '0,/"expr": "/s/"expr": "/"exp": "/' monitoring \
  "a target without a gamsa_collector_ expr" "a dashboard target without an expr"
mutate docker/Dockerfile.agent 's/^USER 65532:65532$/USER root/' images \
  "not a numeric non-root uid" "an image running as root"

echo "validate: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
