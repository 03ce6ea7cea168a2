#!/usr/bin/env bash
# Soak: examples/soak.rs for a bounded time: several threads, one context each, random
# verified O_DIRECT writes and reads (buffered where O_DIRECT is refused) with
# checksums, then a full read-back. Fails on any mismatch, error or lost completion.
#
# Usage: .ci/soak.sh [SECONDS] [DIR]   (default 20 s in target/, on the disk; CI uses
# the default, docs/testing.md's figures come from a longer run, e.g. 180)
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-20}
dir=${2:-target}
mkdir -p "$dir"
cargo build -q --release --example soak
./target/release/examples/soak --secs "$secs" --threads 4 --depth 32 --blocks 256 --dir "$dir"
