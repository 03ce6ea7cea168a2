#!/usr/bin/env bash
# Builds examples/static_read for x86_64-unknown-linux-musl, runs it, and checks that it
# is statically linked and carries nothing of libaio.
set -euo pipefail
cd "$(dirname "$0")/.."
target=x86_64-unknown-linux-musl
cargo build -q --release --example static_read --target "$target"
bin="target/$target/release/examples/static_read"
out=$("$bin")
echo "$out"
grep -q "without libaio" <<<"$out" || { echo "static_read did not print what it read" >&2; exit 1; }
description=$(file -b "$bin")
echo "file: $description"
case "$description" in
    *"static-pie linked"* | *"statically linked"*) ;;
    *) echo "static_read is not statically linked" >&2; exit 1 ;;
esac
if readelf -d "$bin" | grep -q NEEDED; then
    echo "static_read needs shared libraries:" >&2
    readelf -d "$bin" | grep NEEDED >&2
    exit 1
fi
if nm "$bin" | grep -Eq ' (io_queue_init|io_queue_run|io_prep_pread|libaio)'; then
    echo "static_read contains libaio symbols" >&2
    exit 1
fi
echo "static_read: static, no shared libraries, no libaio symbols"
