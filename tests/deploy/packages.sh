#!/usr/bin/env bash
# The packages, built and installed for real on this machine:
#  1. deploy/packaging/build.sh makes the .deb and .rpm of gamsa-agent and
#     gamsa-collector from the binaries the tests built (profile dev);
#  2. dpkg -i installs both: binaries, units, config, sysusers.d and
#     tmpfiles.d entries; the service users exist as system users; state
#     directories and configurations have the right owners and modes;
#  3. `systemd-analyze verify` has nothing to say about the installed units,
#     and the installed binaries, run as their service users, accept the
#     installed configurations (the collector makes its CA in its state
#     directory);
#  4. installing again keeps an edited configuration;
#  5. dpkg -r removes the package's files but keeps configuration and state;
#     dpkg --purge leaves nothing;
#  6. the .rpm lists the same files with the same modes, its configuration
#     marked noreplace, requires systemd and carries the scriptlets.
# Safe to run again: packages left by an interrupted run are purged first.
# Prints each failure and "packages: N passed, M failed"; exits 1 on any.
#
# Needs root, dpkg-dev, rpm, systemd, cargo-deb and cargo-generate-rpm
# (tests/run.sh installs them) and the dev binaries (GAMSA_BIN_DIR or
# target/debug).
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
target=${CARGO_TARGET_DIR:-$repo/target}
PACKAGES=(gamsa-agent gamsa-collector)

passes=0
failures=0
pass() { passes=$((passes + 1)); echo "ok   $*"; }
fail() { failures=$((failures + 1)); echo "FAIL $*"; }
missing() { echo "packages.sh: $1 is missing: $2" >&2; exit 2; }
[ "$(id -u)" -eq 0 ] || missing root "run as root (dpkg -i)"
for t in dpkg-shlibdeps:dpkg-dev rpm:rpm systemd-analyze:systemd cargo-deb:"cargo install cargo-deb" \
  cargo-generate-rpm:"cargo install cargo-generate-rpm"; do
  command -v "${t%%:*}" >/dev/null || missing "${t%%:*}" "${t#*:}"
done

purge_all() {
  local p
  for p in "${PACKAGES[@]}"; do
    if dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -qv "not-installed"; then
      dpkg --purge "$p" >/dev/null
    fi
  done
}
work=$(mktemp -d)
trap 'purge_all; rm -rf "$work"' EXIT
purge_all

# --- 1: build -------------------------------------------------------------
if DEB_FAST=1 "$repo/deploy/packaging/build.sh" dev >"$work/build.log" 2>&1; then
  pass "build.sh dev: .deb and .rpm of both"
else
  fail "build.sh: $(tail -5 "$work/build.log")"
  echo "packages: $passes passed, $failures failed"
  exit 1
fi
version=$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/Cargo.toml" | head -1)
deb() { echo "$target/debian/${1}_${version}-1_$(dpkg --print-architecture).deb"; }
rpm_of() { ls "$target"/generate-rpm/"$1"-"$version"-1.*.rpm 2>/dev/null; }

# What each package installs: path, owner:group, octal mode.
expected() {
  local p=$1 cfg user
  case $p in
    gamsa-agent) cfg=/etc/gamsa-agent/agent.toml user=gamsa-agent ;;
    gamsa-collector) cfg=/etc/gamsa/collector.toml user=gamsa ;;
  esac
  cat <<LIST
/usr/bin/$p root:root 755
/usr/lib/systemd/system/$p.service root:root 644
/usr/lib/sysusers.d/$p.conf root:root 644
/usr/lib/tmpfiles.d/$p.conf root:root 644
$cfg root:$user 640
/usr/share/doc/$p/README.md root:root 644
/usr/share/doc/$p/${p#gamsa-}.example.toml root:root 644
LIST
}

# --- 2 and 3: install, files, users, verify ---------------------------------
if dpkg -i "$(deb gamsa-agent)" "$(deb gamsa-collector)" >"$work/install.log" 2>&1; then
  pass "dpkg -i both packages"
else
  fail "dpkg -i: $(tail -5 "$work/install.log")"
fi
for p in "${PACKAGES[@]}"; do
  problems=()
  while read -r path owner mode; do
    if [ ! -e "$path" ]; then
      problems+=("$path missing")
    elif [ "$(stat -c '%U:%G %a' "$path")" != "$owner $mode" ]; then
      problems+=("$path is $(stat -c '%U:%G %a' "$path"), expected $owner $mode")
    fi
    dpkg -L "$p" | grep -qx "$path" || problems+=("$path not listed by dpkg -L $p")
  done < <(expected "$p")
  if [ ${#problems[@]} -eq 0 ]; then
    pass "$p: files installed with owners and modes"
  else
    fail "$p: ${problems[*]}"
  fi
done
for pair in gamsa-collector:gamsa:/var/lib/gamsa gamsa-agent:gamsa-agent:/var/lib/gamsa-agent; do
  IFS=: read -r p user state <<<"$pair"
  entry=$(getent passwd "$user" || true)
  IFS=: read -r _ _ uid _ _ home shell <<<"$entry"
  if [ -n "$entry" ] && [ "$uid" -gt 0 ] && [ "$uid" -lt 1000 ] && [ "$home" = "$state" ] && [ "$shell" = /usr/sbin/nologin ] &&
    [ "$(stat -c '%U:%G %a' "$state")" = "$user:$user 700" ]; then
    pass "$p: system user $user (uid $uid, no shell) owns $state (0700)"
  else
    fail "$p: user '$entry', $state: $(stat -c '%U:%G %a' "$state" 2>&1)"
  fi
  log=$work/verify.$p
  if systemd-analyze verify "/usr/lib/systemd/system/$p.service" >"$log" 2>&1 && [ ! -s "$log" ]; then
    pass "systemd-analyze verify installed $p.service: clean"
  else
    fail "systemd-analyze verify $p.service: $(head -5 "$log")"
  fi
done
if runuser -u gamsa -- gamsa-collector ca init --config /etc/gamsa/collector.toml >"$work/ca.log" 2>&1 &&
  [ "$(stat -c %U /var/lib/gamsa/pki/ca.key)" = gamsa ]; then
  pass "gamsa-collector, as user gamsa, makes its CA in /var/lib/gamsa from the installed config"
else
  fail "gamsa-collector ca init as gamsa: $(tail -3 "$work/ca.log")"
fi
if runuser -u gamsa-agent -- gamsa-agent --config /etc/gamsa-agent/agent.toml scan --once --probe host >/dev/null 2>"$work/agent.log"; then
  pass "gamsa-agent, as user gamsa-agent, accepts the installed config"
else
  fail "gamsa-agent with the installed config: $(tail -3 "$work/agent.log")"
fi

# --- 4: reinstall keeps an edited configuration ---------------------------
echo "# edited by the operator" >>/etc/gamsa-agent/agent.toml
sum=$(sha256sum </etc/gamsa-agent/agent.toml)
if dpkg -i "$(deb gamsa-agent)" >"$work/reinstall.log" 2>&1 && [ "$(sha256sum </etc/gamsa-agent/agent.toml)" = "$sum" ] &&
  [ "$(stat -c '%U:%G %a' /etc/gamsa-agent/agent.toml)" = "root:gamsa-agent 640" ]; then
  pass "dpkg -i again: edited agent.toml kept, owner and mode kept"
else
  fail "reinstall: $(tail -3 "$work/reinstall.log"); $(stat -c '%U:%G %a' /etc/gamsa-agent/agent.toml)"
fi

# --- 5: remove, then purge ------------------------------------------------
dpkg -r gamsa-agent gamsa-collector >"$work/remove.log" 2>&1 || fail "dpkg -r: $(tail -3 "$work/remove.log")"
if [ ! -e /usr/bin/gamsa-agent ] && [ ! -e /usr/lib/systemd/system/gamsa-collector.service ] &&
  [ -e /etc/gamsa/collector.toml ] && [ -e /var/lib/gamsa/pki/ca.key ]; then
  pass "dpkg -r: binaries and units gone, configuration and state kept"
else
  fail "dpkg -r left $(ls /usr/bin/gamsa-* /usr/lib/systemd/system/gamsa-* 2>/dev/null) or lost config/state"
fi
dpkg --purge gamsa-agent gamsa-collector >"$work/purge.log" 2>&1 || fail "dpkg --purge: $(tail -3 "$work/purge.log")"
left=$(ls -d /etc/gamsa /etc/gamsa-agent /var/lib/gamsa /var/lib/gamsa-agent /usr/share/doc/gamsa-agent \
  /usr/share/doc/gamsa-collector /usr/lib/sysusers.d/gamsa-*.conf /usr/lib/tmpfiles.d/gamsa-*.conf 2>/dev/null || true)
if [ -z "$left" ] && ! dpkg-query -W -f='${Status}' gamsa-agent 2>/dev/null | grep -q installed; then
  pass "dpkg --purge: nothing left"
else
  fail "dpkg --purge left: $left"
fi

# --- 6: the .rpm ------------------------------------------------------------
for p in "${PACKAGES[@]}"; do
  f=$(rpm_of "$p" 2>/dev/null || true)
  if [ -z "$f" ]; then
    fail "$p.rpm: not built"
    continue
  fi
  want=$(expected "$p" | awk '{ print $1, $3 }' | sort)
  got=$(rpm -qp --qf '[%{FILENAMES} %{FILEMODES:octal}\n]' "$f" 2>/dev/null | sed 's/ 100\([0-7]*\)$/ \1/' | sort)
  if [ "$got" = "$want" ]; then
    pass "$p.rpm: rpm -qlp lists the same files and modes"
  else
    fail "$p.rpm: $(diff <(echo "$want") <(echo "$got") | grep '^[<>]' | head -5 | tr '\n' ' ')"
  fi
  cfg=$(expected "$p" | awk '$2 != "root:root" { print $1 }')
  if rpm -qp --configfiles "$f" 2>/dev/null | grep -qx "$cfg" && rpm -qp --requires "$f" 2>/dev/null | grep -q '^systemd' &&
    rpm -qp --scripts "$f" 2>/dev/null | grep -q 'systemd-sysusers'; then
    pass "$p.rpm: $cfg a config file, requires systemd, scriptlets create user and directories"
  else
    fail "$p.rpm: config file, systemd requirement or scriptlets missing"
  fi
done

echo "packages: $passes passed, $failures failed"
[ "$failures" -eq 0 ]
