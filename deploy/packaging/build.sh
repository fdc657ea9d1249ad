#!/usr/bin/env bash
# Builds the .deb and .rpm of gamsa-agent and gamsa-collector from binaries
# already built: deploy/systemd/install.sh stages the units, sysusers.d and
# tmpfiles.d entries and configurations under the target directory (with
# /usr paths), then cargo-deb and cargo-generate-rpm package them with the
# binary (metadata in agent/Cargo.toml and collector/Cargo.toml).
#
# Usage: deploy/packaging/build.sh [PROFILE]
#   PROFILE  the cargo profile whose binaries are packaged: release (default)
#            or dev (what the tests build)
#   DEB_FAST=1  lighter .deb compression (tests)
# Needs root (install.sh stages with systemd-sysusers), cargo-deb,
# cargo-generate-rpm, dpkg-dev (dependencies from dpkg-shlibdeps).
# Writes target/debian/*.deb and target/generate-rpm/*.rpm.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
profile=${1:-release}
target=${CARGO_TARGET_DIR:-$repo/target}
case $profile in
  dev) dir=$target/debug ;;
  *) dir=$target/$profile ;;
esac
for b in gamsa-agent gamsa-collector; do
  [ -x "$dir/$b" ] || { echo "build.sh: $dir/$b missing: cargo build --profile $profile -p $b" >&2; exit 2; }
done

# The package's own root, made afresh (install.sh keeps an existing config);
# its binaries without debug information (dev binaries keep line tables).
stage=$dir/package-root
rm -rf "$stage"
ROOT=$stage PREFIX=/usr UNIT_DIR=/usr/lib/systemd/system BIN_DIR=$dir \
  "$repo/deploy/systemd/install.sh" all >/dev/null
strip --strip-debug "$stage"/usr/bin/gamsa-agent "$stage"/usr/bin/gamsa-collector

cd "$repo"
for b in gamsa-agent gamsa-collector; do
  cargo deb --no-build --no-strip --profile "$profile" -p "$b" ${DEB_FAST:+--fast}
  cargo generate-rpm --profile "$profile" -p "${b#gamsa-}"  # the crate directory
done
