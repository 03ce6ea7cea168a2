#!/usr/bin/env bash
# fio, a program built against Debian's libaio, run unchanged with librawaio preloaded.
#
#   capi/fio-preload.sh [check]              (default) a 2-second run with librawaio
#                                            preloaded; fails unless every libaio function
#                                            fio (and libaio.so.1 itself) calls was bound to
#                                            librawaio.so, and fio did I/O without error.
#   capi/fio-preload.sh bench [ROUNDS] [SECONDS] [FILE]
#                                            libaio and librawaio alternately, 4 KiB O_DIRECT
#                                            random reads at iodepth 32 and 128, ROUNDS
#                                            (default 3) rounds of SECONDS (default 3) each,
#                                            on FILE (default a file in /dev/shm, tmpfs:
#                                            Linux 6.6+ does O_DIRECT there); prints IOPS and
#                                            CPU time (usr+sys) per I/O.
#
# Needs fio and libaio (Debian: fio, libaio1); builds target/release/librawaio.so.
# The binding check reads the dynamic linker's own trace (LD_DEBUG=bindings).
set -euo pipefail
cd "$(dirname "$0")/.."

mode=${1:-check}
lib=$PWD/target/release/librawaio.so
command -v fio >/dev/null || { echo "fio-preload.sh: fio not found" >&2; exit 1; }
cargo build -q --release -p rawaio-capi
work=$(mktemp -d "${TMPDIR:-/tmp}/rawaio-fio.XXXXXX")
cleanup() { rm -rf "$work"; [ -n "${bench_file:-}" ] && rm -f "$bench_file"; true; }
trap cleanup EXIT

# fio_run FILE IODEPTH SECONDS [env...]: prints "error iops runtime_ms usr% sys% read_kb".
fio_run() {
    local file=$1 depth=$2 seconds=$3
    shift 3
    env "$@" fio --name=rawaio --thread --ioengine=libaio --filename="$file" --size=64M \
        --rw=randread --bs=4k --direct=1 --iodepth="$depth" --runtime="$seconds" \
        --time_based --output-format=terse --terse-version=3 |
        awk -F';' '{ gsub("%", "", $88); gsub("%", "", $89); print $5, $8, $9, $88, $89, $6 }'
}

case "$mode" in
check)
    file=$work/data
    out=$(fio_run "$file" 32 2 LD_PRELOAD="$lib" LD_DEBUG=bindings LD_DEBUG_OUTPUT="$work/ld")
    read -r error iops runtime usr sys kb <<<"$out"
    echo "fio with librawaio preloaded: error $error, $iops IOPS, $kb KiB read in $runtime ms"
    [ "$error" = 0 ] || { echo "fio reported error $error" >&2; exit 1; }
    [ "$kb" -gt 0 ] || { echo "fio read nothing" >&2; exit 1; }
    bindings=$(grep -h "normal symbol \`io_" "$work"/ld.* || true)
    ours=$(grep -F "to $lib [" <<<"$bindings" || true)
    others=$(grep -vF "to $lib [" <<<"$bindings" || true)
    echo "--- libaio functions bound to librawaio.so:"
    sed 's/.*binding file \([^ ]*\) .*symbol `\([^'"'"']*\)'"'"' \[\(.*\)\]/  \1 -> \2@\3/' <<<"$ours" | sort -u
    if [ -n "$others" ]; then
        echo "libaio functions bound elsewhere:" >&2
        echo "$others" >&2
        exit 1
    fi
    for fn in io_submit io_getevents; do
        grep -q "fio .*symbol \`$fn'" <<<"$ours" ||
            { echo "fio's $fn was not bound to librawaio.so" >&2; exit 1; }
    done
    grep -Eq "fio .*symbol \`(io_setup|io_queue_init)'" <<<"$ours" ||
        { echo "fio's context setup was not bound to librawaio.so" >&2; exit 1; }
    echo "fio's AIO calls were served by librawaio.so"
    ;;
bench)
    rounds=${2:-3} seconds=${3:-3}
    bench_file=${4:-/dev/shm/rawaio-fio-bench.$$}
    printf '%-8s %-7s %-5s %10s %12s\n' library iodepth round IOPS "CPU us/IO" | tee "$work/rows"
    for depth in 32 128; do
        for round in $(seq "$rounds"); do
            for library in libaio rawaio; do
                if [ "$library" = rawaio ]; then
                    out=$(fio_run "$bench_file" "$depth" "$seconds" LD_PRELOAD="$lib")
                else
                    out=$(fio_run "$bench_file" "$depth" "$seconds")
                fi
                read -r error iops runtime usr sys kb <<<"$out"
                [ "$error" = 0 ] || { echo "fio reported error $error" >&2; exit 1; }
                awk -v l="$library" -v d="$depth" -v r="$round" -v iops="$iops" \
                    -v ms="$runtime" -v usr="$usr" -v sys="$sys" -v kb="$kb" 'BEGIN {
                        ios = kb / 4
                        printf "%-8s %-7s %-5s %10d %12.3f\n", l, d, r, iops,
                            (usr + sys) / 100 * ms * 1000 / ios
                    }' | tee -a "$work/rows"
            done
        done
    done
    echo "--- medians over $rounds rounds; rawaio/libaio"
    for depth in 32 128; do
        for column in 4 5; do
            for library in libaio rawaio; do
                awk -v l="$library" -v d="$depth" -v c="$column" \
                    '$1 == l && $2 == d { print $c }' "$work/rows" | sort -g |
                    awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'
            done
        done | paste -sd' ' | awk -v d="$depth" '{
            printf "iodepth %-4s IOPS libaio %8d rawaio %8d (%+.0f%%)   CPU us/IO libaio %.3f rawaio %.3f (%+.0f%%)\n",
                d, $1, $2, ($2 / $1 - 1) * 100, $3, $4, ($4 / $3 - 1) * 100
        }'
    done
    ;;
*)
    echo "usage: $0 [check | bench [ROUNDS] [SECONDS] [FILE]]" >&2
    exit 2
    ;;
esac
