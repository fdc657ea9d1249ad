#!/usr/bin/env bash
# Installs the gamsa agent and/or collector as systemd services on a VM:
# binary, unit, service user, directories, and a configuration made from the
# documented example. Safe to run again (an upgrade replaces binaries and
# units); an existing configuration is never overwritten.
#
# Usage: deploy/systemd/install.sh agent|collector|all
#   BIN_DIR  where the built binaries are (default: the workspace's
#            target/release, or $CARGO_TARGET_DIR/release)
#   ROOT     install into this directory instead of / (packaging, tests);
#            systemctl is then left alone
#   PREFIX   binaries in PREFIX/bin, documentation, sysusers.d and
#            tmpfiles.d under PREFIX (default /usr/local; packages: /usr)
#   UNIT_DIR where the units go (default /etc/systemd/system; packages:
#            /usr/lib/systemd/system)
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")/.." && pwd)
repo_dir=$(dirname "$deploy_dir")
BIN_DIR=${BIN_DIR:-${CARGO_TARGET_DIR:-$repo_dir/target}/release}
ROOT=${ROOT:-}
PREFIX=${PREFIX:-/usr/local}
UNIT_DIR=${UNIT_DIR:-/etc/systemd/system}

die() { echo "install.sh: $*" >&2; exit 1; }

[ "$(id -u)" -eq 0 ] || die "run as root (it creates users and writes /etc, /usr/local)"

# A service user from a sysusers.d entry (the mechanism systemd packages
# use; idempotent), then its numeric ids read from the target root's
# /etc/passwd so that ROOT installs do not consult this host's users.
ensure_user() {
  local name=$1 user=$2 home=$3 comment=$4
  local conf=$ROOT$PREFIX/lib/sysusers.d/$name.conf
  install -d -m 0755 "$(dirname "$conf")" "$ROOT/etc"
  printf 'u %s - "%s" %s /usr/sbin/nologin\n' "$user" "$comment" "$home" >"$conf"
  systemd-sysusers ${ROOT:+--root="$ROOT"} "$conf" ||
    die "systemd-sysusers could not create user $user"
}

ids_of() {
  local ids
  ids=$(awk -F: -v u="$1" '$1 == u { print $3 ":" $4 }' "$ROOT/etc/passwd")
  [ -n "$ids" ] || die "user $1 missing from $ROOT/etc/passwd"
  echo "$ids"
}

# Writes $2 from the example $1 with each "old|new" line replaced, or with
# "old|new|end" the lines from `old` through the next `end`. Every `old` must
# occur exactly once, so a changed example fails loudly here rather than
# yielding a half-adapted configuration.
render_config() {
  local example=$1 out=$2 group=$3; shift 3
  if [ -e "$out" ]; then
    echo "kept existing $out (not overwritten)"
    return
  fi
  local text sub old new end
  text=$(cat "$example")
  for sub in "$@"; do
    IFS='|' read -r old new end <<<"$sub"
    [ "$(grep -cxF -- "$old" <<<"$text")" -eq 1 ] ||
      die "$example: expected exactly one line '$old'"
    text=$(awk -v old="$old" -v new="$new" -v end="$end" '
      skip { if ($0 == end) skip = 0; next }
      $0 == old { print new; if (end != "") skip = 1; next }
      { print }' <<<"$text")
  done
  install -d -m 0755 "$(dirname "$out")"
  printf '%s\n' "$text" | install -m 0640 -o 0 -g "$group" /dev/stdin "$out"
  echo "wrote $out from $example"
}

# The state directory and the configuration's owners and modes, as a
# tmpfiles.d entry (what packages apply in their postinst), applied now.
ensure_dirs() {
  local name=$1 user=$2 state=$3 config=$4
  local conf=$ROOT$PREFIX/lib/tmpfiles.d/$name.conf
  install -d -m 0755 "$(dirname "$conf")"
  printf 'd %s 0700 %s %s -\nz %s 0640 root %s -\n' "$state" "$user" "$user" "$config" "$user" >"$conf"
  systemd-tmpfiles ${ROOT:+--root="$ROOT"} --create "$conf" ||
    die "systemd-tmpfiles could not create $state"
}

# The unit names its binary and documentation under /usr/local: moved to PREFIX.
install_common() {
  local name=$1
  [ -x "$BIN_DIR/$name" ] ||
    die "$BIN_DIR/$name: not found; build it (cargo build --release -p $name) or set BIN_DIR"
  install -D -m 0755 "$BIN_DIR/$name" "$ROOT$PREFIX/bin/$name"
  install -d -m 0755 "$ROOT$UNIT_DIR"
  sed "s|/usr/local/|$PREFIX/|g" "$deploy_dir/systemd/$name.service" |
    install -m 0644 /dev/stdin "$ROOT$UNIT_DIR/$name.service"
  install -D -m 0644 "$deploy_dir/README.md" "$ROOT$PREFIX/share/doc/$name/README.md"
}

install_collector() {
  install_common gamsa-collector
  ensure_user gamsa-collector gamsa /var/lib/gamsa "gamsa collector"
  local gid
  gid=$(ids_of gamsa | cut -d: -f2)
  render_config "$deploy_dir/collector.example.toml" "$ROOT/etc/gamsa/collector.toml" "$gid" \
    'data_dir = "./gamsa-data"|data_dir = "/var/lib/gamsa"'
  ensure_dirs gamsa-collector gamsa /var/lib/gamsa /etc/gamsa/collector.toml
}

install_agent() {
  install_common gamsa-agent
  ensure_user gamsa-agent gamsa-agent /var/lib/gamsa-agent "gamsa agent"
  local gid
  gid=$(ids_of gamsa-agent | cut -d: -f2)
  # The unit's ProtectSystem=strict leaves only /var/lib/gamsa-agent
  # writable: the spool (state_dir's default) and the enrolled key and
  # certificate go there. The example's labels and TLS targets are
  # illustrations, not this host's: left empty.
  render_config "$deploy_dir/agent.example.toml" "$ROOT/etc/gamsa-agent/agent.toml" "$gid" \
    'ca = "/etc/gamsa/ca.crt"|ca = "/etc/gamsa-agent/ca.crt"' \
    'cert = "/etc/gamsa/agent.crt"|cert = "/var/lib/gamsa-agent/agent.crt"' \
    'key = "/etc/gamsa/agent.key"|key = "/var/lib/gamsa-agent/agent.key"' \
    'enrol_token_file = ""|enrol_token_file = "/etc/gamsa-agent/enrol-token"' \
    'role = "web"|# role = "web"' \
    'env = "production"|# env = "production"' \
    'targets = [|targets = []|]'
  ensure_dirs gamsa-agent gamsa-agent /var/lib/gamsa-agent /etc/gamsa-agent/agent.toml
}

case ${1:-} in
  agent) install_agent ;;
  collector) install_collector ;;
  all) install_collector; install_agent ;;
  *) die "usage: $0 agent|collector|all" ;;
esac

if [ -z "$ROOT" ] && [ -d /run/systemd/system ]; then
  systemctl daemon-reload
fi
echo "installed; next steps (CA, enrolment, start): deploy/README.md"
