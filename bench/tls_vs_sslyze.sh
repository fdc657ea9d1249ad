#!/usr/bin/env bash
# Benchmark: TLS versions + certificate of one loopback endpoint, by the
# agent's `tls` probe (`gamsa-agent scan --once --probe tls`) and by sslyze
# (versions SSL 3.0–TLS 1.3 and certinfo), in the same run, after checking
# that both reach the same verdicts. Traffic goes to 127.0.0.1 only.
#
# Needs: Debian openssl, nginx, hyperfine; PyPI sslyze.
# Usage: bench/tls_vs_sslyze.sh [runs]   (from the repository root)
set -euo pipefail

runs="${1:-10}"
need() { command -v "$1" >/dev/null || { echo "tls_vs_sslyze: needs $1 ($2)" >&2; exit 1; }; }
need openssl "Debian package openssl"
need nginx "Debian package nginx"
need hyperfine "Debian package hyperfine"
python3 -c 'import sslyze' 2>/dev/null || { echo "tls_vs_sslyze: needs PyPI package sslyze" >&2; exit 1; }

work="$(mktemp -d)"
nginx_pid=""
cleanup() { [ -n "$nginx_pid" ] && kill "$nginx_pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cargo build --quiet --release -p gamsa-agent
cp "${CARGO_TARGET_DIR:-target}/release/gamsa-agent" "$work/gamsa-agent"

# A CA and a server certificate for localhost.
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$work/ca.key" -out "$work/ca.pem" -days 30 \
  -subj "/CN=Bench CA" -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign" 2>/dev/null
openssl req -new -newkey rsa:2048 -nodes -keyout "$work/leaf.key" -out "$work/leaf.csr" \
  -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n' > "$work/leaf.ext"
openssl x509 -req -in "$work/leaf.csr" -CA "$work/ca.pem" -CAkey "$work/ca.key" -CAcreateserial \
  -days 30 -sha256 -extfile "$work/leaf.ext" -out "$work/leaf.pem" 2>/dev/null

# nginx with Debian's defaults for TLS: TLS 1.2 and 1.3, ciphers HIGH:!aNULL:!MD5.
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
mkdir -p "$work/nginx"
cat > "$work/nginx/nginx.conf" <<EOF
daemon off; master_process off; worker_processes 1;
pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;
events { worker_connections 512; }
http {
  access_log off;
  client_body_temp_path $work/nginx/body; proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi; uwsgi_temp_path $work/nginx/uwsgi; scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port ssl;
    ssl_certificate $work/leaf.pem; ssl_certificate_key $work/leaf.key;
    ssl_protocols TLSv1.2 TLSv1.3;
    return 200 "ok";
  }
}
EOF
nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
nginx_pid=$!
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  sleep 0.1
done

cat > "$work/agent.toml" <<EOF
[probes.host]
enabled = false
[probes.ports]
enabled = false
[probes.tls]
discover_local = false
ca_bundle = "$work/ca.pem"
targets = [{ address = "127.0.0.1:$port", sni = "localhost" }]
EOF
agent="$work/gamsa-agent -c $work/agent.toml scan --once --probe tls --format json"
sslyze="python3 -m sslyze --quiet --sslv3 --tlsv1 --tlsv1_1 --tlsv1_2 --tlsv1_3 --certinfo --certinfo_ca_file=$work/ca.pem --json_out=$work/sslyze.json localhost:$port{127.0.0.1}"

# Same verdicts first: versions, leaf fingerprint, trust.
$agent > "$work/agent.json"
$sslyze > /dev/null 2>&1
python3 - "$work/agent.json" "$work/sslyze.json" <<'EOF'
import base64, json, sys
ours = json.loads(open(sys.argv[1]).readline())["tlsEndpoint"]
scan = json.load(open(sys.argv[2]))["server_scan_results"][0]["scan_result"]
names = {"ssl_3_0": "SSL3", "tls_1_0": "TLS1_0", "tls_1_1": "TLS1_1", "tls_1_2": "TLS1_2", "tls_1_3": "TLS1_3"}
theirs_versions = sorted("TLS_VERSION_" + v for k, v in names.items()
                         if scan[k + "_cipher_suites"]["result"]["accepted_cipher_suites"])
dep = scan["certificate_info"]["result"]["certificate_deployments"][0]
theirs_fp = base64.b64decode(dep["received_certificate_chain"][0]["fingerprint_sha256"]).hex()
supplied = [p for p in dep["path_validation_results"] if p["trust_store"]["name"] == "Supplied CA file"][0]
checks = {
    "acceptedVersions": (sorted(ours["acceptedVersions"]), theirs_versions),
    "leaf sha256": (ours["leaf"]["sha256Fingerprint"], theirs_fp),
    "trusted for localhost": (ours.get("chainTrusted", False) and ours.get("hostnameMatches", False),
                              supplied["was_validation_successful"]),
}
for what, (a, b) in checks.items():
    print(f"  {what}: agent {a} / sslyze {b}")
    if a != b:
        sys.exit(f"verdicts differ on {what}")
print("same verdicts")
EOF

hyperfine --warmup 2 --runs "$runs" --export-markdown "$work/bench.md" \
  -n "gamsa-agent tls" "$agent" -n "sslyze" "$sslyze"
cat "$work/bench.md"
