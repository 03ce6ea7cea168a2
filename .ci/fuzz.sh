#!/usr/bin/env bash
# Runs every cargo-fuzz target briefly (fuzz/run.sh; 20 s each by default), installing
# cargo-fuzz first if it is missing.
# Usage: .ci/fuzz.sh [SECONDS_PER_TARGET]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
bash fuzz/run.sh "${1:-20}"
