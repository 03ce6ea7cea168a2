#!/usr/bin/env bash
# The libaio drop-in (capi/) beyond `cargo test`, which already runs its C tests:
# - libaio.h's layout and helpers against rawaio-abi on a big-endian (s390x) and a 32-bit
#   (i686) target, under qemu-user;
# - fio, built against Debian's libaio, run for 2 seconds with librawaio.so preloaded,
#   checking through the dynamic linker's trace that librawaio served its AIO calls.
# Needs what .ci/install.sh installs (qemu-user, the cross compilers, fio, libaio-dev).
set -euo pipefail
cd "$(dirname "$0")/.."

for spec in "s390x-unknown-linux-gnu qemu-s390x s390x-linux-gnu-gcc /usr/s390x-linux-gnu" \
    "i686-unknown-linux-gnu qemu-i386 i686-linux-gnu-gcc /usr/i686-linux-gnu"; do
    read -r target qemu gcc sysroot <<<"$spec"
    var=$(echo "$target" | tr 'a-z-' 'A-Z_')
    echo "--- libaio.h on $target ($qemu)"
    env "CARGO_TARGET_${var}_LINKER=$gcc" "CARGO_TARGET_${var}_RUNNER=$qemu -L $sysroot" \
        RAWAIO_PROBE_CC="$gcc" RAWAIO_PROBE_STATIC=1 RAWAIO_PROBE_RUNNER="$qemu" \
        cargo test -q -p rawaio-capi --target "$target" --test header_layout -- --nocapture
done

echo "--- fio with librawaio.so preloaded"
bash capi/fio-preload.sh check
