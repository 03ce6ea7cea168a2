#!/usr/bin/env bash
# cargo-semver-checks on every publishable library crate of the workspace, against a
# baseline: says whether the versions in the Cargo.toml files are bumped enough for the
# API changes since then (removed or changed items, new required trait items, ...).
#
#   bash .ci/semver.sh REV [ARGS...]   # baseline: the crates as they were at the git
#                                      # revision REV (a tag such as v0.1.0, a branch, a
#                                      # commit); works before anything is published
#   bash .ci/semver.sh - [ARGS...]     # baseline: each crate's newest release on crates.io
#
# ARGS go to cargo-semver-checks, e.g. `--release-type minor` to check a planned minor
# release whatever the versions say. The crates checked: workspace members that are not
# `publish = false` and have a Rust library (rawaio-capi's interface is C: libaio's
# symbols and versions, which capi/tests/c_api.rs checks). Installs cargo-semver-checks
# (`cargo install --locked`) when it is missing. See docs/releasing.md.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ $# -lt 1 ]; then
    sed -n '2,15p' "$0" >&2
    exit 2
fi
baseline=$1
shift

command -v cargo-semver-checks >/dev/null || cargo install cargo-semver-checks --locked

crates=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
for p in meta["packages"]:
    rust_lib = any(k in ("lib", "rlib") for t in p["targets"] for k in t["kind"])
    if p["id"] in members and p["publish"] != [] and rust_lib:
        print(p["name"])
')
args=()
for crate in $crates; do args+=(--package "$crate"); done
echo "checking: $crates"

if [ "$baseline" = - ]; then
    cargo semver-checks check-release "${args[@]}" "$@"
else
    if ! git rev-parse --verify -q "$baseline^{commit}" >/dev/null; then
        echo "semver.sh: $baseline is no git revision here" >&2
        exit 2
    fi
    cargo semver-checks check-release "${args[@]}" --baseline-rev "$baseline" "$@"
fi
