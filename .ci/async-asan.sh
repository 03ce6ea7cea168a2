#!/usr/bin/env bash
# The async layer's test binaries (tests/async_tokio.rs, async_io.rs, async_relay.rs and
# async_busy.rs), whose drop-before-completion tests free buffers while requests are in
# flight, built with AddressSanitizer: a buffer freed, or a completion touched, too early
# would be a use-after-free here. A few minutes on 2 cores (most of it building tokio with
# ASan).
#
# `--target` keeps the sanitizer off build scripts and proc macros (tokio-macros), which
# run on the host. Leak detection is off: one test leaks a future on purpose
# (`mem::forget`), and the tests count every buffer's drops themselves.
set -euo pipefail
cd "$(dirname "$0")/.."
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
export RUSTFLAGS="-Zsanitizer=address"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1"
exec cargo +nightly test --target x86_64-unknown-linux-gnu --target-dir target/asan \
    --features tokio,async-io --test async_tokio --test async_io --test async_relay --test async_busy
