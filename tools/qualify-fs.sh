#!/usr/bin/env bash
# aio-qualify on ext4, xfs, btrfs and tmpfs, each a fresh file system on a loop-mounted
# image (tmpfs: a fresh mount), and the kernel x file-system matrix in docs/qualify.md.
#
#   sudo bash tools/qualify-fs.sh            # writes docs/qualify/<kernel>/<fs>.json and docs/qualify.md
#   sudo OUT=/tmp/q bash tools/qualify-fs.sh # writes elsewhere (CI does this)
#
# It installs what it lacks (Debian: e2fsprogs, xfsprogs, btrfs-progs, jq), builds
# aio-qualify (release) unless AIO_QUALIFY names one, and tears everything down (unmounts,
# detaches the loop devices, removes the images), also on failure. The matrix keeps the
# reports of every kernel it was run on (docs/qualify/*/): run it on another kernel to
# add that kernel's rows.
#
# Settings (environment): FILESYSTEMS (default "ext4 xfs btrfs tmpfs"), SAMPLES (default
# 32), IMAGE_MB (default 512: xfs wants 300 MiB at least), WORK (default /var/tmp).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
FILESYSTEMS=${FILESYSTEMS:-"ext4 xfs btrfs tmpfs"}
SAMPLES=${SAMPLES:-32}
IMAGE_MB=${IMAGE_MB:-512}
WORK=${WORK:-/var/tmp}
OUT=${OUT:-docs}

[ "$(id -u)" = 0 ] || { echo "tools/qualify-fs.sh needs root (loop devices, mounts)" >&2; exit 1; }

need=()
command -v jq >/dev/null || need+=(jq)
command -v mkfs.ext4 >/dev/null || need+=(e2fsprogs)
command -v mkfs.xfs >/dev/null || need+=(xfsprogs)
command -v mkfs.btrfs >/dev/null || need+=(btrfs-progs)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ -z "${AIO_QUALIFY:-}" ]; then
    cargo build -q --release -p rawaio-tools --bin aio-qualify
    AIO_QUALIFY=$root/target/release/aio-qualify
fi

work=$(mktemp -d "$WORK/aio-qualify-fs.XXXXXX")
mounted=()
loops=()
cleanup() {
    for m in "${mounted[@]}"; do umount "$m" 2>/dev/null || umount -l "$m" || true; done
    for l in "${loops[@]}"; do losetup -d "$l" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT

kernel=$(uname -r)
reports=$OUT/qualify/$kernel
mkdir -p "$reports"
for fs in $FILESYSTEMS; do
    dir=$work/mnt-$fs
    mkdir -p "$dir"
    case $fs in
    tmpfs) mount -t tmpfs -o size=256m aio-qualify "$dir" ;;
    ext4 | xfs | btrfs)
        image=$work/$fs.img
        truncate -s "${IMAGE_MB}M" "$image"
        case $fs in
        ext4) mkfs.ext4 -q -F "$image" ;;
        xfs) mkfs.xfs -q -f "$image" ;;
        btrfs) mkfs.btrfs -q -f "$image" >/dev/null ;;
        esac
        loop=$(losetup --find --show --direct-io=on "$image")
        loops+=("$loop")
        mount -t "$fs" "$loop" "$dir"
        ;;
    *) echo "unknown file system $fs" >&2; exit 1 ;;
    esac
    mounted+=("$dir")
    echo "--- $fs"
    status=0
    "$AIO_QUALIFY" "$dir" --json --samples "$SAMPLES" >"$reports/$fs.json" || status=$?
    jq -r '"usable: \(.usable); nowait reads: \(.nowait.reads.verdict), writes: \(.nowait.writes.verdict)"' "$reports/$fs.json"
    [ "$status" = 0 ] || { echo "aio-qualify exited $status on $fs" >&2; exit 1; }
    [ -z "$(ls -A "$dir" | grep aio-qualify || true)" ] || { echo "aio-qualify left a file on $fs" >&2; exit 1; }
done

# The matrix: a row per kernel and file system, from every report kept.
{
    echo "# What native AIO does on each file system"
    echo
    echo "Written by \`sudo bash tools/qualify-fs.sh\`, which runs [aio-qualify](../tools/README.md) on a fresh"
    echo "ext4, xfs and btrfs (each on a ${IMAGE_MB} MiB loop-mounted image, made with the mkfs defaults"
    echo "of Debian's e2fsprogs, xfsprogs and btrfs-progs) and a fresh tmpfs, $SAMPLES requests per measurement, one in"
    echo "flight. The loop devices use direct I/O on their image (\`losetup --direct-io=on\`), so that reads"
    echo "reach the disk rather than the host's page cache. The reports are kept in [qualify/](qualify/) (one JSON file per kernel and file"
    echo "system); each run adds or replaces its kernel's rows. The images sit on the machine's virtio"
    echo "disk: service times are that disk's, and a real device's differ, but whether \`io_submit\`"
    echo "returns before the I/O is done is the file system's and the kernel's doing. A share near one"
    echo "half is borderline (such a cell may flip between runs); the JSON has every figure."
    echo
    echo "How to read it:"
    echo
    echo "- **align** is what works, found by trying reads (offset and length / buffer address, in bytes);"
    echo "  what \`statx\` reports is in parentheses. Use the reported values: what works may be laxer."
    echo "- **io_submit** for each request: *async* when it returns before the I/O is done (the time"
    echo "  inside it is under half the service time), *sync* when it did the whole request (medians in"
    echo "  microseconds: inside io_submit / service time), *EOPNOTSUPP* and so on when refused."
    echo "- **NOWAIT reads / writes**: *honoured* when the requests that block without the flag (here: an"
    echo "  uncached buffered read, an appending or overwriting \`O_DIRECT\` write, an \`O_DIRECT\` read where"
    echo "  they run synchronously) fail fast with \`EAGAIN\` with it; *ignored* when they block anyway; *not"
    echo "  needed* when none of them blocks there; *unsupported* when \`io_submit\` refuses the flag. The"
    echo "  fraction counts the spurious \`EAGAIN\`s: requests with no reason to block (asynchronous without"
    echo "  the flag, or reads of cached data) that failed with \`EAGAIN\` anyway, each a retry for nothing."
    echo "- **flags**: the \`RWF_*\` flags a zero-length \`O_DIRECT\` write accepts, then the buffered one"
    echo "  (rawaio's probe; every flag listed in the report's JSON, reads too)."
    echo
    echo "| kernel | fs | date | align | O_DIRECT read | overwrite | append | uncached buffered read | fdsync | NOWAIT reads | NOWAIT writes | write flags (O_DIRECT / buffered) |"
    echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
    for f in "$OUT"/qualify/*/*.json; do
        jq -r '
            def cell($name):
                (.blocking[] | select(.case == $name and .nowait == false)) as $c
                | if $c.skipped then "-"
                  elif $c.verdict == "asynchronous" then "async \($c.submit_us)/\($c.total_us)"
                  elif $c.verdict == "synchronous" then "**sync** \($c.submit_us)/\($c.total_us)"
                  else "\($c.verdict) \($c.first_error // "")" end;
            def nw($d): "\($d.verdict) (\($d.spurious)/\($d.spurious_of))";
            def flags($mode):
                [.features[] | select(.mode == $mode) | .flags[] | select(.write == "supported") | .flag]
                | if length == 0 then "-" else join(" ") end;
            def align:
                if .alignment == null then "no O_DIRECT"
                else "\(.alignment.offset) / \(.alignment.memory) (\(.alignment.reported_offset) / \(.alignment.reported_memory))" end;
            "| \(.kernel) | \(.target.fs) | \(.date) | \(align) | \(cell("direct_read")) | \(cell("direct_overwrite")) | \(cell("direct_append")) | \(cell("buffered_read_uncached")) | \(cell("fdsync")) | \(nw(.nowait.reads)) | \(nw(.nowait.writes)) | \(flags("O_DIRECT")) / \(flags("buffered")) |"
        ' "$f"
    done
    echo
    echo "The context budget on the machine of the last run: $(jq -r '.budget | "fs.aio-max-nr \(.aio_max_nr); a context of \(.depth) takes \(.cost) of it (ring: \(.ring_events) events, \(.ring_bytes / 1024) KiB)"' "$reports/$(echo "$FILESYSTEMS" | awk '{print $1}').json")."
    echo "Raise it with \`sysctl -w fs.aio-max-nr=N\` (and a line \`fs.aio-max-nr = N\` in \`/etc/sysctl.d/\` to keep it);"
    echo "aio-qualify prints the N a planned set of contexts needs (\`--contexts\`, \`--depth\`)."
} >"$OUT/qualify.md"
echo "wrote $OUT/qualify.md and $reports/"
