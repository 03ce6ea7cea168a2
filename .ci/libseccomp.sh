#!/usr/bin/env bash
# Prints the directory holding libseccomp.a for the Debian architectures named (i386,
# armhf, s390x, ppc64el, ...), one line per architecture, after fetching Debian's
# libseccomp-dev for each into a cache once. The seccomp tests use libseccomp to build
# their filters on the targets seccompiler does not know (tests/sandbox/mod.rs); this
# gives the static i686 build (.ci/i686-kernel.sh) and the qemu-system runner a library
# to link, without touching the host's dpkg architectures or package lists: apt runs
# with lists and a cache of its own under $RAWAIO_QEMU_CACHE (default
# ~/.cache/rawaio-qemu)/libseccomp.
#
#   bash .ci/libseccomp.sh i386            # -> .../libseccomp/i386/lib
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: $0 DEB_ARCH..." >&2; exit 2; }
root=${RAWAIO_QEMU_CACHE:-$HOME/.cache/rawaio-qemu}/libseccomp
apt_dir=$root/apt
opts=(-o "Dir::State::Lists=$apt_dir/lists" -o "Dir::Cache=$apt_dir/cache"
    -o Acquire::Languages=none -o APT::Sandbox::User=root)
missing=()
for arch in "$@"; do
    [ -f "$root/$arch/lib/libseccomp.a" ] || missing+=("$arch")
    opts+=(-o "APT::Architectures::=$arch")
done
if [ ${#missing[@]} -gt 0 ]; then
    mkdir -p "$apt_dir/lists/partial" "$apt_dir/cache/archives/partial"
    # A suite whose index fails makes apt exit 100 while the rest is fine: judged below.
    apt-get "${opts[@]}" -qq update >&2 || echo "libseccomp.sh: apt update reported errors" >&2
    for arch in "${missing[@]}"; do
        work=$root/$arch/work
        rm -rf "$work"
        mkdir -p "$work"
        (cd "$work" && apt-get "${opts[@]}" -qq download "libseccomp-dev:$arch" >&2)
        dpkg-deb -x "$work"/libseccomp-dev_*.deb "$work/x"
        mkdir -p "$root/$arch/lib"
        cp "$(find "$work/x" -name libseccomp.a | head -1)" "$root/$arch/lib/"
        rm -rf "$work"
    done
fi
for arch in "$@"; do
    echo "$root/$arch/lib"
done
