#!/usr/bin/env bash
# The read path at fleet scale: how long the dashboard's overview (`/`) and
# the item API take, and how many bytes they answer, with N hosts in a
# PostgreSQL store (the 2,000-host fixture of tests/tests/dashboard.rs:
# agents registered straight into the store, no evidence, so every host is
# UNKNOWN under every host rule).
#
#   bench/read_path.sh [collector binary] [hosts] [requests]
#
# Defaults: target/debug/gamsa-collector, 2000 hosts, 7 requests of each.
# Needs PostgreSQL at GAMSA_TEST_PG_URL (default postgres://postgres@127.0.0.1:5432/test)
# and psql, curl. Prints the median and the worst time of each, and bytes.
set -euo pipefail
export GAMSA_COLLECTOR_CONFIG
bin=${1:-target/debug/gamsa-collector}
hosts=${2:-2000}
n=${3:-7}
base=${GAMSA_TEST_PG_URL:-postgres://postgres@127.0.0.1:5432/test}
schema=bench_read_$$
dir=$(mktemp -d)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  psql -q "$base" -c "DROP SCHEMA IF EXISTS $schema CASCADE" >/dev/null 2>&1 || true
  rm -rf "$dir"
}
trap cleanup EXIT
psql -q "$base" -c "CREATE SCHEMA $schema" >/dev/null
url="$base?options=-c%20search_path%3D$schema"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
grpc=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
GAMSA_COLLECTOR_CONFIG=$dir/collector.toml
cat >"$dir/collector.toml" <<EOF
data_dir = "$dir/data"
[grpc]
listen = "127.0.0.1:$grpc"
[http]
listen = "127.0.0.1:$port"
[store]
url = "$url"
[log]
level = "warn"
EOF
"$bin" ca init >/dev/null
token=$("$bin" token create --api --role admin --name bench | tail -1)
printf 'bench-password-1' >"$dir/pw"
"$bin" user add kim --role auditor --password-file "$dir/pw" >/dev/null
"$bin" serve >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/healthz" >/dev/null && break; sleep 0.2; done
now=$(date +%s%3N)
psql -q "$url" >/dev/null <<EOF
INSERT INTO agents (agent_id, host, version, os, kernel, capabilities, labels, first_seen, last_seen, peer)
SELECT 'host-' || lpad(g::text, 5, '0'), 'host-' || lpad(g::text, 5, '0'), '0.1.0', 'Linux', '6.1',
       '["host","ports"]', json_build_object('zone', CASE WHEN g % 2 = 0 THEN 'a' ELSE 'b' END)::text,
       $now, $now, '127.0.0.1:1'
FROM generate_series(1, $hosts) g;
EOF
# Count the write where the collector can see it (a no-op before the change counter existed).
psql -q "$url" -c "UPDATE changes SET counter = counter + 1 WHERE slot = 0" >/dev/null 2>&1 || true
# Sign in.
jar=$dir/cookies
csrf=$(curl -fs -c "$jar" "http://127.0.0.1:$port/login" | grep -o 'name="csrf" value="[^"]*"' | sed 's/.*value="//; s/"$//')
curl -fs -b "$jar" -c "$jar" -o /dev/null --data-urlencode "user=kim" --data-urlencode "password=bench-password-1" \
  --data-urlencode "csrf=$csrf" "http://127.0.0.1:$port/login"
item="http://127.0.0.1:$port/api/v1/catalogs/cloud-notice/items/11.1.2"
# Wait until the answers include every host (the first evaluation, or the one after the insert).
for _ in $(seq 300); do
  curl -fs -H "Authorization: Bearer $token" "$item" | grep -q "host-$(printf %05d "$hosts")" && break
  sleep 0.2
done
measure() { # name, curl arguments...
  local name=$1; shift
  local times=() size=0
  for _ in $(seq "$n"); do
    read -r t s < <(curl -fs -o /dev/null -w '%{time_total} %{size_download}\n' "$@")
    times+=("$t"); size=$s
  done
  printf '%s\n' "${times[@]}" | sort -n | awk -v name="$name" -v size="$size" -v n="$n" \
    '{a[NR]=$1} END {printf "%-28s median %6.0f ms  worst %6.0f ms  %9d bytes  (%d requests)\n", name, a[int((n+1)/2)]*1000, a[n]*1000, size, n}'
}
measure "dashboard /" -b "$jar" "http://127.0.0.1:$port/"
measure "API item 11.1.2" -H "Authorization: Bearer $token" "$item"
measure "API items cloud-notice" -H "Authorization: Bearer $token" "http://127.0.0.1:$port/api/v1/catalogs/cloud-notice/items"
