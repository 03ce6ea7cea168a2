#!/usr/bin/env bash
# Runs rawaio's test suite and examples on real Linux kernels of other architectures,
# booted under qemu-system: aarch64, s390x (big-endian), i686 and armv7 (32-bit).
# qemu-user cannot do this (it answers ENOSYS to the AIO calls).
#
#   bash .ci/qemu-kernels.sh                         # all four
#   bash .ci/qemu-kernels.sh --arch aarch64,s390x    # some
#   bash .ci/qemu-kernels.sh --update-doc docs/abi.md  # and record the passes there
#
# Debian's kernels are cached in ~/.cache/rawaio-qemu (or $RAWAIO_QEMU_CACHE); apt is
# run with its own lists there, so the host's dpkg architectures are never changed.
# See .ci/qemu/src/main.rs for what is built, packed, booted and judged.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(qemu-system-arm qemu-system-misc qemu-system-x86 gcc-aarch64-linux-gnu
    gcc-s390x-linux-gnu gcc-i686-linux-gnu gcc-arm-linux-gnueabihf libc6-dev-arm64-cross
    libc6-dev-s390x-cross libc6-dev-i386-cross libc6-dev-armhf-cross gzip e2fsprogs)
missing=()
for p in "${packages[@]}"; do
    dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "installing: ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
rustup target add aarch64-unknown-linux-gnu s390x-unknown-linux-gnu i686-unknown-linux-gnu \
    armv7-unknown-linux-gnueabihf >/dev/null 2>&1
# The runner's own unit tests (cpio writer, protocol, dates, console), then the runner.
cargo test -q --release --manifest-path .ci/qemu/Cargo.toml --target-dir target/qemu
cargo build -q --release --manifest-path .ci/qemu/Cargo.toml --target-dir target/qemu \
    --bin rawaio-qemu
exec target/qemu/release/rawaio-qemu "$@"
