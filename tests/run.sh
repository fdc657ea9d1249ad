#!/usr/bin/env bash
# The whole gamsa test suite, on a fresh machine: installs the real
# counterparts the tests drive (TLS servers, nmap, sslyze, ...) and runs every
# test of the workspace. Usage: tests/run.sh [extra cargo test args]
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian packages the tests run against (real servers and tools, not mocks).
APT_PACKAGES=(openssl postgresql-client nginx nmap iproute2 nftables time restic pgbackrest chromium
  chromium-driver fonts-noto-cjk fonts-nanum poppler-utils age systemd prometheus rsyslog dpkg-dev rpm curl)
# sshd -T of Debian's OpenSSH server, against which the authentication probe is checked.
APT_PACKAGES+=(openssh-server)
# Debian's Tomcat 10 with its manager and examples, for the tomcat probe and catalog.
APT_PACKAGES+=(tomcat10 tomcat10-admin tomcat10-examples tomcat10-user)
# Lynis audits what the host configuration probes read; agent/tests/lynis.rs
# compares their findings on this machine.
APT_PACKAGES+=(lynis)
# amtool checks the Alertmanager configurations the monitoring probe reads,
# among them the example this package installs.
APT_PACKAGES+=(prometheus-alertmanager)
# kubectl renders the kustomize overlays; any kubectl will do (another package
# may own /usr/bin/kubectl, and Debian's would then fail to unpack over it).
command -v kubectl >/dev/null || APT_PACKAGES+=(kubernetes-client)
# PyPI packages (reference tools whose answers ours must equal).
PIP_PACKAGES=(sslyze aiosmtpd kubernetes-validate py-ocsf-models schemathesis)
# Cargo subcommands that build the .deb and .rpm (tests/deploy/packages.sh),
# pinned; kept when already installed at that version.
CARGO_TOOLS=(cargo-deb@3.8.0 cargo-generate-rpm@0.21.1)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "tests/run.sh: installing ${missing[*]}" >&2
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#PIP_PACKAGES[@]} -gt 0 ]; then
  python3 -m pip install -q --disable-pip-version-check "${PIP_PACKAGES[@]}"
fi

for t in "${CARGO_TOOLS[@]}"; do
  "${t%@*}" --version 2>/dev/null | grep -qF "${t#*@}" || cargo install -q --locked "${t%@*}" --version "${t#*@}"
done

cargo test --workspace "$@"

# deploy/: render and validate the manifests, verify the systemd units, with
# the binaries the tests just built.
GAMSA_BIN_DIR="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug" tests/deploy/validate.sh
# The .deb and .rpm from those binaries, installed here and purged again.
tests/deploy/packages.sh
# The HTTP API fuzzed from its OpenAPI description (a few minutes at most).
GAMSA_BIN_DIR="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug" tests/deploy/schemathesis.sh
