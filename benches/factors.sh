#!/usr/bin/env bash
# The measurements behind docs/performance.md: one factor at a time, everything else
# fixed, on a 1 GiB /dev/zram0 (and an ext4 file for buffered against O_DIRECT).
#
#   sudo bash benches/factors.sh        # prints markdown tables
#
# Each row is the median of ROUNDS runs of RUNTIME seconds (default 3 x 2 s), the cases
# of a table alternating round by round so that a busy machine slows them alike.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNTIME=${RUNTIME:-2}
ROUNDS=${ROUNDS:-3}
FILE_DIR=${FILE_DIR:-/var/tmp}
[ "$(id -u)" = 0 ] || { echo "benches/factors.sh needs root (zram set-up)" >&2; exit 1; }
command -v jq >/dev/null || { apt-get update -qq && apt-get install -y -qq jq >/dev/null; }

zram_set_up=0
file=""
cleanup() {
    if [ "$zram_set_up" = 1 ]; then echo 1 >/sys/block/zram0/reset || true; fi
    if [ -n "$file" ]; then rm -f "$file"; fi
}
trap cleanup EXIT
[ -e /dev/zram0 ] || modprobe zram num_devices=1
if [ "$(cat /sys/block/zram0/disksize)" != 0 ]; then
    echo "/dev/zram0 is in use (disksize != 0): not touching it" >&2
    exit 1
fi
echo 1G >/sys/block/zram0/disksize
zram_set_up=1

cargo build -q --release -p rawaio-tools --bin aio-bench
bench=target/release/aio-bench

# table TITLE CASE... : each CASE is "label|aio-bench arguments".
table() {
    local title=$1; shift
    local -A iops cpu usr sys p99
    local r c label args json
    for ((r = 0; r < ROUNDS; r++)); do
        for c in "$@"; do
            label=${c%%|*}; args=${c#*|}
            if [[ $args == *--buffered* ]]; then
                # Start cold: drop the file's pages from the page cache.
                dd if="$file" iflag=nocache count=0 status=none
            fi
            # shellcheck disable=SC2086
            json=$($bench --runtime "$RUNTIME" --json $args 2>/dev/null)
            iops[$label]+="$(jq -r .iops <<<"$json") "
            cpu[$label]+="$(jq -r .cpu_us_per_io <<<"$json") "
            usr[$label]+="$(jq -r .usr_us_per_io <<<"$json") "
            sys[$label]+="$(jq -r .sys_us_per_io <<<"$json") "
            p99[$label]+="$(jq -r .lat_p99_us <<<"$json") "
        done
    done
    echo
    echo "### $title"
    echo
    echo "| case | IOPS | CPU/IO (us) | user | system | p99 latency (us) |"
    echo "|---|---:|---:|---:|---:|---:|"
    for c in "$@"; do
        label=${c%%|*}
        printf '| %s | %s | %s | %s | %s | %s |\n' "$label" \
            "$(median "${iops[$label]}" 0)" "$(median "${cpu[$label]}" 3)" \
            "$(median "${usr[$label]}" 3)" "$(median "${sys[$label]}" 3)" \
            "$(median "${p99[$label]}" 0)"
    done
}

median() {
    tr ' ' '\n' <<<"$1" | grep . | sort -g | awk -v d="$2" '{ v[NR] = $1 }
        END { printf "%." d "f", (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
}

z="--target /dev/zram0 --rw randread --bs 4k"
echo "# aio-bench factors: $(date -u +%Y-%m-%d), Linux $(uname -r), $ROUNDS x $RUNTIME s per case"
table "Batching (zram, qd 128)" \
    "batch 1|$z --qd 128 --batch 1 --engine rawaio" \
    "batch 4|$z --qd 128 --batch 4 --engine rawaio" \
    "batch 32|$z --qd 128 --batch 32 --engine rawaio"
table "Reaping (zram, qd 128, batch 32)" \
    "ring (user space)|$z --qd 128 --batch 32 --engine rawaio --reap ring" \
    "io_getevents|$z --qd 128 --batch 32 --engine rawaio --reap syscall" \
    "eventfd + ring|$z --qd 128 --batch 32 --engine rawaio --reap eventfd" \
    "async (eventfd, poll)|$z --qd 128 --batch 32 --engine async"
table "Threads, a context each (zram, qd 64 per thread, batch 16)" \
    "1 thread|$z --qd 64 --batch 16 --threads 1 --engine rawaio" \
    "2 threads|$z --qd 64 --batch 16 --threads 2 --engine rawaio"

file=$FILE_DIR/rawaio-factors.$$
dd if=/dev/zero of="$file" bs=1M count=1024 oflag=direct conv=fsync status=none
f="--target $file --rw randread --bs 4k --qd 32 --batch 8 --engine rawaio"
table "O_DIRECT against buffered (1 GiB ext4 file, qd 32, batch 8, the file's page cache dropped before each run)" \
    "O_DIRECT|$f" \
    "buffered|$f --buffered"
