#!/usr/bin/env bash
# Runs the rawaio-abi tests (unit tests and the C probe cross-check), then rawaio's
# syscall-free unit tests, its ABI property tests (tests/prop_abi.rs) and docs/abi.md's
# table against this target (tests/doc_abi.rs), for a big-endian
# 64-bit target (s390x) and a 32-bit target (i686) under qemu-user. (qemu-user answers
# the AIO system calls with ENOSYS, so the kernel tests run elsewhere: i686 through
# .ci/i686-kernel.sh.)
#
# Needs: qemu-user (qemu-s390x, qemu-i386), gcc-s390x-linux-gnu, gcc-i686-linux-gnu and
# the Rust targets s390x-unknown-linux-gnu and i686-unknown-linux-gnu.
# Usage: .ci/cross-abi.sh [TARGET...]   (default: both targets)
set -euo pipefail

cd "$(dirname "$0")/.."

run_target() {
    local target=$1 qemu gcc sysroot
    case "$target" in
        s390x-unknown-linux-gnu)
            qemu=qemu-s390x gcc=s390x-linux-gnu-gcc sysroot=/usr/s390x-linux-gnu ;;
        i686-unknown-linux-gnu)
            qemu=qemu-i386 gcc=i686-linux-gnu-gcc sysroot=/usr/i686-linux-gnu ;;
        *)
            echo "cross-abi.sh: unsupported target $target" >&2
            return 2 ;;
    esac
    local var
    var=$(echo "$target" | tr 'a-z-' 'A-Z_')

    for tool in "$qemu" "$gcc"; do
        command -v "$tool" >/dev/null || { echo "cross-abi.sh: $tool not found" >&2; return 1; }
    done

    echo "=== rawaio-abi on $target ($qemu)"
    env \
        "CARGO_TARGET_${var}_LINKER=$gcc" \
        "CARGO_TARGET_${var}_RUNNER=$qemu -L $sysroot" \
        RAWAIO_PROBE_CC="$gcc" \
        RAWAIO_PROBE_STATIC=1 \
        RAWAIO_PROBE_RUNNER="$qemu" \
        cargo test -p rawaio-abi --target "$target" --lib --tests --no-fail-fast -- --nocapture

    # The same modules Miri runs (.ci/miri.sh): they make no system call.
    echo "=== rawaio's syscall-free unit tests and ABI property tests on $target ($qemu)"
    local runner=("CARGO_TARGET_${var}_LINKER=$gcc" "CARGO_TARGET_${var}_RUNNER=$qemu -L $sysroot")
    env "${runner[@]}" cargo test -p rawaio --target "$target" --lib --no-fail-fast -- \
        ring:: inflight:: buf:: op:: direct:: probe:: sys::ret:: completion:: error:: syscalls::
    env "${runner[@]}" PROPTEST_CASES=128 \
        cargo test -p rawaio --target "$target" --test prop_abi --test doc_abi --no-fail-fast
}

targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(s390x-unknown-linux-gnu i686-unknown-linux-gnu)
fi
for target in "${targets[@]}"; do
    run_target "$target"
done
