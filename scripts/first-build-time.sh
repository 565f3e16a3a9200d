#!/usr/bin/env bash
# The time a user's first build takes: a new crate that depends on `fly-machines` (with the
# features given), built in debug from an empty target folder, against a baseline crate that
# depends only on what any HTTP client crate needs (reqwest with rustls, serde, tokio).
#
#   scripts/first-build-time.sh                      # default features, then the other TLS choices
#   scripts/first-build-time.sh "rustls"             # only these variants (space separated)
#
# Crates come from the local cargo cache (no download time is counted). Wall time depends on
# what else the machine runs; CPU time (user + sys) is the steadier figure, so both are printed.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
variants=${1:-"default rustls native-tls no-default"}
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

new_crate() { # name, dependency lines
  mkdir -p "$work/$1/src"
  printf '[package]\nname = "%s"\nversion = "0.0.0"\nedition = "2024"\n\n[dependencies]\n%s\n\n[workspace]\n' "$1" "$2" >"$work/$1/Cargo.toml"
  echo 'fn main() {}' >"$work/$1/src/main.rs"
}

measure() { # name -> prints "wall cpu"
  local dir="$work/$1"
  # Resolve and fetch first, so only compiling is timed.
  (cd "$dir" && cargo generate-lockfile -q --offline 2>/dev/null || cargo generate-lockfile -q)
  (cd "$dir" && cargo fetch -q)
  /usr/bin/time -o "$dir/time" -f '%e %U %S' \
    cargo build -q --manifest-path "$dir/Cargo.toml" --target-dir "$dir/target" >&2
  awk '{ printf "%.1f %.1f\n", $1, $2 + $3 }' "$dir/time"
}

tokio='tokio = { version = "1.47", features = ["macros", "rt-multi-thread", "time", "sync", "net", "signal"] }'
new_crate baseline "reqwest = { version = \"0.13\", default-features = false, features = [\"json\", \"rustls\", \"http2\"] }
serde = { version = \"1\", features = [\"derive\"] }
serde_json = \"1\"
$tokio"
read -r base_wall base_cpu < <(measure baseline)
printf '%-28s %8s %8s %10s\n' crate "wall s" "cpu s" "cpu ratio"
printf '%-28s %8s %8s %10s\n' "baseline (reqwest+serde+tokio)" "$base_wall" "$base_cpu" 1.00
for v in $variants; do
  case $v in
    default) dep="fly-machines = { path = \"$root/crates/fly-machines\" }" ;;
    no-default) dep="fly-machines = { path = \"$root/crates/fly-machines\", default-features = false }" ;;
    *) dep="fly-machines = { path = \"$root/crates/fly-machines\", default-features = false, features = [\"derive\", \"$v\"] }" ;;
  esac
  new_crate "user-$v" "$dep
$tokio"
  read -r wall cpu < <(measure "user-$v")
  printf '%-28s %8s %8s %10.2f\n' "fly-machines ($v)" "$wall" "$cpu" "$(awk -v a="$cpu" -v b="$base_cpu" 'BEGIN{print a/b}')"
done
