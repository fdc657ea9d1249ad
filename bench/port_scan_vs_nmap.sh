#!/usr/bin/env bash
# Benchmark: TCP connect scan of 127.0.0.1 ports 1-65535 by the agent's
# `port_scan` probe (`gamsa-agent scan --once --probe port_scan`, release
# build, limits raised for loopback) and by `nmap -sT -p-`, in the same run,
# after checking that both find the same open ports and the same closed
# count. Both run in a network namespace this script makes, with listeners
# of its own, so that nothing else on the machine opens or closes ports
# between the runs; traffic stays on that namespace's loopback.
#
# Needs: root (ip netns), Debian iproute2, nmap, hyperfine, python3.
# Usage: bench/port_scan_vs_nmap.sh [runs]   (from the repository root)
set -euo pipefail

runs="${1:-5}"
need() { command -v "$1" >/dev/null || { echo "port_scan_vs_nmap: needs $1 ($2)" >&2; exit 1; }; }
need ip "Debian package iproute2"
need nmap "Debian package nmap"
need hyperfine "Debian package hyperfine"
need python3 "Debian package python3"

work="$(mktemp -d)"
ns="gamsa-bench-$$"
listeners_pid=""
cleanup() {
  [ -n "$listeners_pid" ] && kill "$listeners_pid" 2>/dev/null
  ip netns del "$ns" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build --quiet --release -p gamsa-agent
cp "${CARGO_TARGET_DIR:-target}/release/gamsa-agent" "$work/gamsa-agent"

ip netns add "$ns"
ip -n "$ns" link set lo up
open_ports="22 80 443 5432 8080 9100 50000 65535"
ip netns exec "$ns" python3 -c '
import socket, sys, time
held = []
for p in sys.argv[1:]:
    s = socket.socket(); s.bind(("127.0.0.1", int(p))); s.listen(4096); held.append(s)
print("ready", flush=True)
while True:
    for s in held:
        s.setblocking(False)
        try:
            while True: s.accept()[0].close()
        except BlockingIOError: pass
    time.sleep(0.05)
' $open_ports > "$work/listeners.out" &
listeners_pid=$!
for _ in $(seq 100); do grep -q ready "$work/listeners.out" 2>/dev/null && break; sleep 0.1; done

cat > "$work/agent.toml" <<EOF
host = "bench"
[probes.scan]
interval = "1h"
targets = ["127.0.0.1"]
allow = ["127.0.0.0/8"]
ports = "1-65535"
# Loopback only: no rate limit worth the name, and many attempts in flight.
max_rate = 1000000
concurrency = 64
connect_timeout = "1s"
scan_log = "$work/scan.log"
EOF
agent="ip netns exec $ns $work/gamsa-agent -c $work/agent.toml scan --once --probe port_scan --format json"
nmap="ip netns exec $ns nmap -sT -Pn -n -p- -oX $work/nmap.xml 127.0.0.1"

# Same answers first: open ports and closed count.
$agent > "$work/agent.json"
$nmap > /dev/null
python3 - "$work/agent.json" "$work/nmap.xml" "$open_ports" <<'EOF'
import json, sys, xml.etree.ElementTree as ET
ours = json.loads(open(sys.argv[1]).readline())
assert ours["status"] == "STATUS_OBSERVED", ours
scan = ours["portScan"]
root = ET.parse(sys.argv[2]).getroot()
nopen = sorted(int(p.get("portid")) for p in root.iter("port") if p.find("state").get("state") == "open")
nclosed = sum(int(e.get("count")) for e in root.iter("extraports") if e.get("state") == "closed")
nclosed += sum(1 for p in root.iter("port") if p.find("state").get("state") == "closed")
want = sorted(int(p) for p in sys.argv[3].split())
print(f"  open: agent {scan['openPorts']} / nmap {nopen}")
print(f"  closed: agent {scan['closedCount']} / nmap {nclosed}; filtered: agent {scan['filteredCount']}")
if scan["openPorts"] != nopen or nopen != want:
    sys.exit("open ports differ")
if scan["closedCount"] != nclosed or scan["filteredCount"] != 0:
    sys.exit("closed counts differ")
print("same open set")
EOF

echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
hyperfine --warmup 1 --runs "$runs" --export-markdown "$work/bench.md" \
  -n "gamsa-agent port_scan" "$agent" -n "nmap -sT -p-" "$nmap"
cat "$work/bench.md"
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg)"
