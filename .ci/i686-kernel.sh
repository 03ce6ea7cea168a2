#!/usr/bin/env bash
# Runs rawaio's whole test suite as static i686 binaries on the running x86_64 kernel,
# through its 32-bit compatibility mode: a real-kernel test of the i386 stubs (int 0x80),
# io_pgetevents_time64, the 32-bit structure layouts and zero-extended pointers.
# (qemu-user cannot do this: it returns ENOSYS for the AIO calls.)
# The seccomp tests build their i386 filters with libseccomp, linked statically from
# Debian's libseccomp-dev:i386 (.ci/libseccomp.sh).
set -euo pipefail
cd "$(dirname "$0")/.."
lib=$(bash .ci/libseccomp.sh i386)
CARGO_TARGET_I686_UNKNOWN_LINUX_GNU_LINKER=i686-linux-gnu-gcc \
RUSTFLAGS="-C target-feature=+crt-static --cfg rawaio_libseccomp" \
LIBSECCOMP_LIB_PATH="$lib" LIBSECCOMP_LINK_TYPE=static \
    cargo test -p rawaio --target i686-unknown-linux-gnu --tests "$@"
