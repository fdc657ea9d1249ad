#!/usr/bin/env bash
# The fleet benchmark: a fleet of simulated agents (each enrolled with its
# own certificate, on its own mutual-TLS stream) sends one real host's
# evidence through real ingest; then, with the fleet still sending at its
# default intervals, every dashboard page and GET API call is requested one
# at a time (p50, p95, max, bytes; the paged exports' first and a middle
# page and their whole files on request, a snapshot's signed file and the
# files one host needs, its whole tar), every page of each paged export is
# fetched in turn, snapshots are taken (time, peak RSS, size; one while a kept
# evaluation runs, one by `snapshot create` with the collector stopped, the
# first after a restart) and the store's bytes are measured, with what grew per table and index, and the kept evaluations (count, time, time reading, rows of the latest set read as changed, evidence reused or read whole, host results reused or judged) are read from /metrics; a request over 100 ms in a call whose median is under it is listed with the collector's log lines meanwhile and what its evaluator was doing (reading the latest evidence, judging, resting). See tests/src/bin/fleet.rs.
#
#   bench/fleet.sh [hosts] [sqlite|postgres|postgres://URL] [requests]
#
# Defaults: 10000 hosts, sqlite, 20 requests of each call. PostgreSQL runs in a
# scratch schema on GAMSA_TEST_PG_URL (default
# postgres://postgres@127.0.0.1:5432/test). Every connection stays on 127.0.0.1.
# The evidence is this machine's, from `gamsa-agent scan --once --format json`
# (no cloud metadata requests, no walk of the whole filesystem), made once and
# kept in target/fleet-evidence.ndjson (remove it to make it again).
# On a shared machine, run it under `flock /tmp/bench.lock`.
set -euo pipefail
cd "$(dirname "$0")/.."
hosts=${1:-10000}
store=${2:-sqlite}
requests=${3:-20}

cargo build --release -p gamsa-collector -p gamsa-agent -p gamsa-tests \
  --bin fleet --bin gamsa-collector --bin gamsa-agent

evidence=target/fleet-evidence.ndjson
if [ ! -s "$evidence" ]; then
  dir=$(mktemp -d)
  trap 'rm -rf "$dir"' EXIT
  cat >"$dir/agent.toml" <<EOF
state_dir = "$dir/state"
[probes.region]
aws_url = "http://127.0.0.1:9"
gcp_url = "http://127.0.0.1:9"
azure_url = "http://127.0.0.1:9"
openstack_url = "http://127.0.0.1:9"
[probes.files.walk]
enabled = false
EOF
  target/release/gamsa-agent -c "$dir/agent.toml" scan --once --format json >"$evidence.tmp"
  mv "$evidence.tmp" "$evidence"
fi
echo "evidence: $(wc -l <"$evidence") lines, $(wc -c <"$evidence") bytes ($evidence)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg) ($(nproc) cores)"
# Each simulated agent holds a socket; so does the collector, once for each.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if [ "$(ulimit -n)" != unlimited ] && [ "$(ulimit -n)" -lt $((hosts + 1000)) ]; then
  echo "open file limit $(ulimit -n) is below $((hosts + 1000)): raise it (ulimit -n)" >&2
  exit 1
fi
exec target/release/fleet "$evidence" "$hosts" "$store" "$requests"
