#!/usr/bin/env bash
# The tools as a user gets them: `cargo install --path tools` must give aio-bench and
# aio-qualify; the installed aio-bench runs the README's main job, aio-qualify qualifies
# the disk's temporary directory and /dev/shm, then ext4, xfs, btrfs and tmpfs on fresh
# loop-mounted file systems (tools/qualify-fs.sh, writing to a scratch directory, not to
# docs/). About a minute, most of it the release build.
set -euo pipefail
cd "$(dirname "$0")/.."
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT

cargo install -q --locked --path tools --root "$scratch/install"
for tool in aio-bench aio-qualify; do
    [ -x "$scratch/install/bin/$tool" ] || { echo "cargo install gave no $tool" >&2; exit 1; }
done
bin=$scratch/install/bin

echo "--- aio-bench (the main job)"
"$bin/aio-bench"

echo "--- aio-bench's fixed, fixed-async, async, driven and busy engines (not in the default list): write, read back, check"
"$bin/aio-bench" --engine fixed,fixed-async,async,driven,busy --rw verify --ios 20000

echo "--- aio-qualify ${TMPDIR:-/var/tmp}"
"$bin/aio-qualify" "${TMPDIR:-/var/tmp}"

echo "--- aio-qualify /dev/shm --json"
"$bin/aio-qualify" /dev/shm --json >"$scratch/shm.json"
jq -e '.usable and .target.fs == "tmpfs"' "$scratch/shm.json" >/dev/null

echo "--- tools/qualify-fs.sh"
OUT=$scratch/docs AIO_QUALIFY=$bin/aio-qualify WORK=$scratch bash tools/qualify-fs.sh
rows=$(grep -c "^| $(uname -r) | " "$scratch/docs/qualify.md")
[ "$rows" = 4 ] || { echo "docs/qualify.md has $rows rows for this kernel, not 4" >&2; exit 1; }
