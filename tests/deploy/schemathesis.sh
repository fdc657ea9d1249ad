#!/usr/bin/env bash
# Fuzzes the HTTP API from its own OpenAPI description (schemathesis, every
# check: no 5xx, responses and status codes as described, bad input refused,
# authentication enforced) against a real collector holding evidence from a
# real agent run, on a throwaway data directory (write operations such as
# snapshots and attestations are exercised). Bounded by MAX_EXAMPLES per
# operation and phase and by schemathesis' own MAX_TIME budget (seconds;
# fuzzing and stateful phases go on until it is spent), with a hard timeout
# beyond it; any finding fails. Revoking a token is left out: schemathesis
# finds its own token's id in GET /api/v1/tokens and revoked it, leaving every
# later request a 401 (tests/tests/credentials.rs and tests/openapi.rs cover
# that operation).
#
# Needs schemathesis 4 (PyPI), curl, python3 and the two binaries
# (GAMSA_BIN_DIR, default target/debug).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
bin=${GAMSA_BIN_DIR:-${CARGO_TARGET_DIR:-$repo/target}/debug}
MAX_EXAMPLES=${MAX_EXAMPLES:-30}
MAX_TIME=${MAX_TIME:-150}
for b in gamsa-agent gamsa-collector; do
  [ -x "$bin/$b" ] || { echo "schemathesis.sh: $bin/$b missing (cargo build -p $b)" >&2; exit 2; }
done
command -v schemathesis >/dev/null || { echo "schemathesis.sh: pip install schemathesis" >&2; exit 2; }

work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }
grpc=$(free_port)
http=$(free_port)
cat >"$work/collector.toml" <<TOML
data_dir = "$work/data"
[grpc]
listen = "127.0.0.1:$grpc"
[http]
listen = "127.0.0.1:$http"
[log]
level = "warn"
TOML
export GAMSA_COLLECTOR_CONFIG=$work/collector.toml
"$bin/gamsa-collector" ca init >/dev/null
mkdir "$work/agent"
"$bin/gamsa-collector" ca issue --agent sut --out "$work/agent" >/dev/null
"$bin/gamsa-collector" serve >"$work/collector.log" 2>&1 &
pids+=($!)
api=http://127.0.0.1:$http
for _ in $(seq 200); do curl -sf "$api/readyz" >/dev/null && break; sleep 0.1; done
curl -sf "$api/readyz" >/dev/null || { echo "collector not ready: $(tail -5 "$work/collector.log")" >&2; exit 1; }
token=$("$bin/gamsa-collector" token create --api --role admin --name schemathesis)

# A real agent run: host, ports and time_sync evidence in the store. Cloud
# metadata is asked of loopback, where nothing answers.
cat >"$work/agent.toml" <<TOML
agent_id = "sut"
host = "sut"
state_dir = "$work/agent/state"
[collector]
endpoints = ["https://127.0.0.1:$grpc"]
ca = "$work/agent/ca.crt"
cert = "$work/agent/agent.crt"
key = "$work/agent/agent.key"
batch_interval = "100ms"
[probes.tls]
discover_local = false
[probes.port_scan]
enabled = false
[probes.region]
aws_url = "http://127.0.0.1:9"
gcp_url = "http://127.0.0.1:9"
azure_url = "http://127.0.0.1:9"
openstack_url = "http://127.0.0.1:9"
TOML
"$bin/gamsa-agent" --config "$work/agent.toml" run >"$work/agent.log" 2>&1 &
agent=$!
pids+=("$agent")
count() { curl -sf -H "Authorization: Bearer $token" "$api/api/v1/evidence?probe=$1&limit=1" | python3 -c 'import json, sys; print(json.load(sys.stdin)["count"])'; }
for _ in $(seq 300); do
  [ "$(count host)" -gt 0 ] && [ "$(count ports)" -gt 0 ] && break
  sleep 0.1
done
[ "$(count host)" -gt 0 ] || { echo "no evidence from the agent: $(tail -5 "$work/agent.log")" >&2; exit 1; }
kill "$agent"
curl -sf -X POST -H "Authorization: Bearer $token" "$api/api/v1/snapshots" >/dev/null

echo "schemathesis: $api/api/v1/openapi.json, $MAX_EXAMPLES examples per operation, ${MAX_TIME}s"
status=0
cd "$work"  # schemathesis keeps its replay data in the working directory
timeout $((MAX_TIME + 120)) schemathesis --no-color --config-file "$repo/tests/deploy/schemathesis.toml" \
  run "$api/api/v1/openapi.json" -H "Authorization: Bearer $token" --checks all \
  --exclude-path '/api/v1/tokens/{id}' \
  --max-examples "$MAX_EXAMPLES" --max-time "$MAX_TIME" --seed 1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "schemathesis.sh: failed (exit $status); collector log:" >&2
  grep -iE 'error|panic' "$work/collector.log" | tail -20 >&2 || true
  exit 1
fi
