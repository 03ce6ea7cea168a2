#!/usr/bin/env bash
# Installs the Debian packages, Rust targets and components CI needs; skips what is there.
set -euo pipefail
packages=(gcc qemu-user gcc-s390x-linux-gnu gcc-i686-linux-gnu binutils file
    qemu-system-arm qemu-system-misc qemu-system-x86 gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf
    libc6-dev-arm64-cross libc6-dev-s390x-cross libc6-dev-i386-cross libc6-dev-armhf-cross
    gzip e2fsprogs fio libaio-dev xfsprogs btrfs-progs jq)
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
rustup component add clippy rustfmt >/dev/null 2>&1 || true
rustup target add x86_64-unknown-linux-musl i686-unknown-linux-gnu aarch64-unknown-linux-gnu \
    armv7-unknown-linux-gnueabihf riscv64gc-unknown-linux-gnu s390x-unknown-linux-gnu \
    powerpc64le-unknown-linux-gnu
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
rustup +nightly component add rust-src miri
cargo +nightly miri setup >/dev/null
# The fuzz targets (fuzz/, .ci/fuzz.sh).
command -v cargo-fuzz >/dev/null || cargo install cargo-fuzz --locked
