#!/usr/bin/env bash
# Makes the toolchain pinned in rust-toolchain.toml available under its pinned name.
#
# With network, rustup installs a missing pinned toolchain by itself on first use. Offline, on a
# machine whose only toolchain is that same release installed as `stable`, rustup would try to
# download it and fail; this gives the installed one the pinned name instead (what rustup's
# own `toolchain link` does, done with a symlink because rustup refuses channel-like names for
# linked toolchains). It never replaces a toolchain, and does nothing when the release differs.
set -euo pipefail
cd "$(dirname "$0")/.."

pinned=$(sed -n 's/^channel = "\(.*\)"$/\1/p' rust-toolchain.toml)
if rustup toolchain list | grep -q "^$pinned-"; then
  exit 0
fi
installed=$(rustc +stable --version)
if [[ "$installed" != "rustc $pinned "* ]]; then
  echo "ensure-toolchain: $pinned is not installed and stable is $installed; rustup will fetch $pinned" >&2
  exit 0
fi
host=$(rustc +stable -vV | sed -n 's/^host: //p')
toolchains="${RUSTUP_HOME:-$HOME/.rustup}/toolchains"
ln -s "$(rustc +stable --print sysroot)" "$toolchains/$pinned-$host"
echo "ensure-toolchain: linked the installed stable ($installed) as $pinned-$host"
