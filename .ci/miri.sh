#!/usr/bin/env bash
# Miri over every rawaio module that makes no system call (their unit tests), and over
# rawaio-abi. A module whose tests need the kernel stays off this list.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo +nightly miri test -p rawaio --lib -- \
    ring:: slots:: fixed_slots:: request:: deadline:: direct:: probe:: sys::ret:: error:: \
    async_context:: syscalls::
cargo +nightly miri test -p rawaio-abi --lib
