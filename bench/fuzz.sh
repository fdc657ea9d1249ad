#!/usr/bin/env bash
# Fuzzing: runs each cargo-fuzz (libFuzzer) target of fuzz/ for a fixed time,
# one after another (one in-process fuzzer at a time: no -jobs, -workers or -fork), and
# prints per target the runs executed, execs/s, coverage (cov: edges, ft:
# features), corpus size and the crash artifacts found.
#
# Targets: tls_server_flight, certificate, ingest_decode, catalog_parse,
# config_parse, host_root, backup_history (see fuzz/fuzz_targets/). Not run in CI.
#
# Needs: the stable toolchain and a C++ compiler (libFuzzer is built from
# source by libfuzzer-sys); installs cargo-fuzz from crates.io if missing.
# cargo-fuzz needs nightly flags (-Zsanitizer, sancov passes), which the
# stable compiler accepts with RUSTC_BOOTSTRAP=1.
#
# Usage: bench/fuzz.sh [seconds-per-target] [target...]   (from the repository root)
#   FUZZ_SANITIZER=none  skip AddressSanitizer (default: address)
# Working corpora grow in fuzz/target/corpus/<target>; crashes land in
# fuzz/artifacts/<target>/.
set -euo pipefail

cd "$(dirname "$0")/.."
root="$PWD"
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(tls_server_flight certificate ingest_decode catalog_parse config_parse host_root backup_history)
sanitizer="${FUZZ_SANITIZER:-address}"

export RUSTC_BOOTSTRAP=1
export CARGO_TARGET_DIR="$root/fuzz/target"

command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked

cd fuzz
# Every target at once (they share one build of the workspace crates).
cargo fuzz build --sanitizer "$sanitizer" >&2

# Seeds too large to commit: the real catalogs and example configurations.
seeds="$CARGO_TARGET_DIR/seeds"
mkdir -p "$seeds/catalog_parse" "$seeds/config_parse"
cp "$root"/collector/catalogs/*.toml "$seeds/catalog_parse/"
cp "$root"/deploy/*.example.toml "$seeds/config_parse/"
cp "$root"/deploy/kubernetes/base/agent.toml "$seeds/config_parse/kubernetes-agent.toml"

seed_dir() {
  case "$1" in
    catalog_parse | config_parse) echo "$seeds/$1" ;;
    *) echo "$root/fuzz/corpus/$1" ;;
  esac
}

# Text inputs: the seeds are cut to this length (the first items of a
# catalog, most of a configuration), which keeps each run fast.
max_len() {
  case "$1" in
    catalog_parse | config_parse) echo 16384 ;;
    *) echo 8192 ;;
  esac
}

echo "fuzz: ${seconds}s per target, sanitizer $sanitizer, $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
summary=()
for t in "${targets[@]}"; do
  corpus="$CARGO_TARGET_DIR/corpus/$t"
  mkdir -p "$corpus" "artifacts/$t" "$(seed_dir "$t")"
  log="$CARGO_TARGET_DIR/fuzz-$t.log"
  before=$(find "artifacts/$t" -type f | wc -l)
  echo "== $t (${seconds}s)" >&2
  start=$(date +%s)
  # New inputs go to the first corpus directory; the seeds stay as they are.
  set +e
  cargo fuzz run --sanitizer "$sanitizer" "$t" "$corpus" "$(seed_dir "$t")" -- \
    -max_total_time="$seconds" -max_len="$(max_len "$t")" -timeout=10 -rss_limit_mb=4096 \
    -print_final_stats=1 >"$log" 2>&1
  rc=$?
  set -e
  took=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -n 1)
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -n 1)
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1 || true)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  corp=$(sed -n 's/.* corp: \([0-9]*\/[0-9a-zA-Z]*\).*/\1/p' <<<"$last")
  after=$(find "artifacts/$t" -type f | wc -l)
  crashes=$((after - before))
  line="$t: ${took}s, ${runs:-?} runs, ${eps:-?} execs/s, cov ${cov:-?} ft ${ft:-?}, corpus ${corp:-?}, new artifacts $crashes (exit $rc)"
  if [ "$rc" -ne 0 ]; then
    line="$line; see $log"
    grep -E '^(thread .* panicked|==[0-9]+==ERROR|SUMMARY)' "$log" | head -n 3 >&2 || true
  fi
  echo "$line" >&2
  summary+=("$line")
done

echo
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%s\n' "${summary[@]}"
find artifacts -type f | sed 's/^/artifact: fuzz\//'
