#!/usr/bin/env bash
# Benchmark: the agent's memory and CPU over one full cycle of every probe
# (`gamsa-agent scan --once`, release build): host, ports, tls (every local
# listener), port_scan (the default: 127.0.0.1, ports 1-65535 at 1,000
# connections/s), encryption, redundancy, region and time_sync. Peak RSS and
# CPU time come from GNU time; RSS is also sampled every 100 ms from
# /proc/<pid>/status, whose median is the steady figure. The region probe's
# metadata URLs are switched off so that no traffic leaves loopback.
#
# Needs: Debian time, python3.
# Usage: bench/agent_footprint.sh   (from the repository root)
set -euo pipefail

[ -x /usr/bin/time ] || { echo "agent_footprint: needs /usr/bin/time (Debian package time)" >&2; exit 1; }
command -v python3 >/dev/null || { echo "agent_footprint: needs python3" >&2; exit 1; }

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

cargo build --quiet --release -p gamsa-agent
cp "${CARGO_TARGET_DIR:-target}/release/gamsa-agent" "$work/gamsa-agent"

cat > "$work/agent.toml" <<CONFIG
host = "bench"
state_dir = "$work/state"
[probes.scan]
scan_log = "$work/scan.log"
[probes.region]
aws_url = ""
gcp_url = ""
azure_url = ""
openstack_url = ""
kubernetes = false
CONFIG

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
/usr/bin/time -v -o "$work/time.txt" "$work/gamsa-agent" -c "$work/agent.toml" scan --once \
  > "$work/evidence.json" &
time_pid=$!
agent_pid=""
for _ in $(seq 500); do
  agent_pid="$(tr -d ' ' < "/proc/$time_pid/task/$time_pid/children" 2>/dev/null || true)"
  [ -n "$agent_pid" ] && break
  sleep 0.01
done
: > "$work/rss.txt"
while [ -n "$agent_pid" ] && kill -0 "$agent_pid" 2>/dev/null; do
  awk '/^VmRSS/ {print $2}' "/proc/$agent_pid/status" >> "$work/rss.txt" 2>/dev/null || true
  sleep 0.1
done
wait "$time_pid"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"

python3 - "$work/time.txt" "$work/rss.txt" "$work/evidence.json" <<'REPORT'
import collections, json, statistics, sys
t = dict(l.strip().split(": ", 1) for l in open(sys.argv[1]) if ": " in l)
rss = [int(x) for x in open(sys.argv[2]) if x.strip()]
ev = [json.loads(l) for l in open(sys.argv[3])]
if not rss:
    sys.exit("no RSS sample taken")
user, system = float(t["User time (seconds)"]), float(t["System time (seconds)"])
print(f"wall {t['Elapsed (wall clock) time (h:mm:ss or m:ss)']}, CPU user {user:.2f} s"
      f" + system {system:.2f} s ({t['Percent of CPU this job got']})")
print(f"peak RSS {int(t['Maximum resident set size (kbytes)']) / 1024:.1f} MiB; sampled RSS"
      f" ({len(rss)} samples): median {statistics.median(rss) / 1024:.1f} MiB,"
      f" p90 {sorted(rss)[int(len(rss) * 0.9)] / 1024:.1f} MiB")
for (probe, status), n in sorted(collections.Counter((e["probe"], e["status"]) for e in ev).items()):
    print(f"  {probe}: {n} {status}")
REPORT
