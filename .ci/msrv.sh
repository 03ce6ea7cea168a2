#!/usr/bin/env bash
# Proves the `rust-version` the crates declare: installs that toolchain with rustup
# (`--profile minimal`), then builds and tests the whole workspace with it, every feature
# on, benchmarks built too, for the host (x86_64).
#
#   bash .ci/msrv.sh
#
# Dependencies are resolved the way a user on that Rust resolves them: MSRV-aware
# (`incompatible-rust-versions = "fallback"`, the default of resolver 3, which projects of
# edition 2024 get from cargo 1.84),
# so a dependency whose newest release needs a newer Rust is taken at its newest release
# that does not (today proptest 1.11 rather than 1.12, which needs 1.88). The repository's
# Cargo.lock (resolved for the current stable) is set aside for the run and put back
# after it, even when the run fails or is interrupted.
#
# Not covered: powerpc64, whose inline assembly was stabilized after 1.85 (see the
# comment at rust-version in Cargo.toml); CI checks it with the current stable.
set -euo pipefail
cd "$(dirname "$0")/.."

target_dir=target/msrv
saved=$target_dir/Cargo.lock.workspace
mkdir -p "$target_dir"
# A run killed before it could put the lock back left it here.
if [ -f "$saved" ]; then
    mv "$saved" Cargo.lock
fi

versions=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
versions = {p["rust_version"] for p in meta["packages"] if p["id"] in members}
if None in versions:
    sys.exit("a workspace member has no rust-version")
print(" ".join(sorted(versions)))
')
if [ "$(wc -w <<<"$versions")" -ne 1 ]; then
    echo "msrv.sh: the crates declare different rust-versions ($versions): test each" >&2
    exit 1
fi
msrv=$versions
echo "rust-version: $msrv"
rustup toolchain install "$msrv" --profile minimal --no-self-update >/dev/null
rustc "+$msrv" --version

cp Cargo.lock "$saved"
trap 'mv "$saved" Cargo.lock' EXIT
trap 'exit 130' INT TERM
export CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS=fallback CARGO_TARGET_DIR=$target_dir
# What changes from the repository's lock.
cargo "+$msrv" update 2>&1 | grep -E 'Downgrading|requires Rust' || true
cargo "+$msrv" test --workspace --all-features
cargo "+$msrv" build --workspace --all-features --benches
echo "the workspace builds and passes its tests with Rust $msrv"
