#!/usr/bin/env bash
# The rawaio test suite (unit and kernel integration tests) under AddressSanitizer, on
# the nightly toolchain: a use-after-free or overflow in rawaio's own memory handling
# (the in-flight table, the ring reader, buffers handed back) aborts the test.
#
# Leak detection is off here because context_drop.rs leaks a busy context on purpose
# (mem::forget must never free buffers the kernel may write); the fuzz targets run with
# it on. Its own target directory keeps the instrumented build apart.
# Usage: .ci/asan.sh [extra cargo test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
# rawaio_asan: the seccomp tests' harness allows the sigaltstack query ASan makes before
# every call that does not return (tests/sandbox/mod.rs, allow_numbers).
export RUSTFLAGS="-Zsanitizer=address --cfg rawaio_asan ${RUSTFLAGS:-}"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:strict_string_checks=1:detect_stack_use_after_return=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}/asan"
cargo +nightly test -p rawaio --target x86_64-unknown-linux-gnu --lib --tests "$@"
