#!/usr/bin/env bash
# Runs rawaio's test suite and examples on real Linux kernels, booted under qemu-system:
# Debian bullseye's (5.10), bookworm's (6.1) and trixie's (6.12) on x86_64 and aarch64,
# bookworm's on s390x (big-endian), i686 and armv7 (32-bit) and ppc64le, trixie's on
# riscv64. qemu-user cannot do this (it answers ENOSYS to the AIO calls).
#
#   bash .ci/qemu-kernels.sh                              # every architecture and release
#   bash .ci/qemu-kernels.sh --arch aarch64,s390x         # some architectures
#   bash .ci/qemu-kernels.sh --runs x86_64/bullseye       # exact runs
#   bash .ci/qemu-kernels.sh --update-doc docs/abi.md     # and record them there
#
# Debian's kernels are cached in ~/.cache/rawaio-qemu (or $RAWAIO_QEMU_CACHE); apt is
# run with its own lists there, so the host's dpkg architectures are never changed.
# See .ci/qemu/src/main.rs for what is built, packed, booted and judged.
set -euo pipefail
cd "$(dirname "$0")/.."
packages=(qemu-system-arm qemu-system-misc qemu-system-x86 qemu-system-ppc gcc-aarch64-linux-gnu
    gcc-s390x-linux-gnu gcc-i686-linux-gnu gcc-arm-linux-gnueabihf gcc-powerpc64le-linux-gnu
    gcc-riscv64-linux-gnu libc6-dev-arm64-cross libc6-dev-s390x-cross libc6-dev-i386-cross
    libc6-dev-armhf-cross libc6-dev-ppc64el-cross libc6-dev-riscv64-cross gzip xz-utils e2fsprogs)
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
    armv7-unknown-linux-gnueabihf powerpc64le-unknown-linux-gnu riscv64gc-unknown-linux-gnu \
    >/dev/null 2>&1
# The runner's own unit tests (cpio writer, protocol, dates, console), then the runner.
cargo test -q --release --manifest-path .ci/qemu/Cargo.toml --target-dir target/qemu
cargo build -q --release --manifest-path .ci/qemu/Cargo.toml --target-dir target/qemu \
    --bin rawaio-qemu
exec target/qemu/release/rawaio-qemu "$@"
