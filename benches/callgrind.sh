#!/usr/bin/env bash
# Instructions per I/O in user space, counted with `valgrind --tool=callgrind`: the C
# loop (benches/c/aio_floor.c) beside the same loop over each rawaio path
# (benches/floor.rs) and aio-bench's engines. Deterministic (the same binary, inputs and
# environment give the same count whatever else the machine does), so it guides work
# that wall-clock figures on a shared machine cannot.
#
#   sudo bash benches/callgrind.sh      # prints a markdown table; writes $OUT/benchmarks-callgrind.tsv
#
# Each figure is (I(2N) - I(N)) / N for runs of N and 2N I/Os, so that start-up and
# set-up cancel out. Settings: TARGET (default: a zram device of its own, added and
# removed), N (default 50000), OUT (default docs). Needs root only to set up zram.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-50000}
OUT=${OUT:-docs}
source benches/common.sh
need_tools valgrind gcc jq
build_all
setup_target

# count CMD...: instructions per I/O of CMD, run with "ios" as its last argument.
count() {
    local a b
    a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" "$N" 2>&1 |
        sed -n 's/.*Collected : //p')
    b=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" "$((2 * N))" 2>&1 |
        sed -n 's/.*Collected : //p')
    echo $(((b - a) / N))
}

# bench_count ENGINE QD BATCH: the same for aio-bench (which takes --ios).
bench_count() {
    local e=$1 qd=$2 b=$3 a c
    local args=(--target "$target" --rw randread --bs 4k --qd "$qd" --batch "$b" --engine "$e" --json)
    a=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" "${args[@]}" --ios "$N" 2>&1 |
        sed -n 's/.*Collected : //p')
    c=$(valgrind --tool=callgrind --callgrind-out-file=/dev/null "$bench" "${args[@]}" --ios "$((2 * N))" 2>&1 |
        sed -n 's/.*Collected : //p')
    echo $(((c - a) / N))
}

tsv=$work/callgrind.tsv
printf 'case\tpath\tinstructions_per_io\n' >"$tsv"
row() { printf '%s\t%s\t%s\n' "$1" "$2" "$3" | tee -a "$tsv" >&2; }
for mode in "128 32 ring" "1 1 spin" "1 1 getevents"; do
    read -r qd b reap <<<"$mode"
    case="qd $qd, batch $b, $reap"
    row "$case" c "$(count "$floor" "$target" "$qd" "$b" 4096 1000 "$reap")"
    for path in owning exclusive fixed; do
        row "$case" "$path" "$(count "$rfloor" "$path" "$target" "$qd" "$b" 4096 1000 "$reap")"
    done
    if [ "$reap" != getevents ]; then
        for path in async driven busy tokio tokio-relay tokio-busy fixed-tokio fixed-relay fixed-busy; do
            row "$case" "$path" "$(count "$rfloor" "$path" "$target" "$qd" "$b" 4096 1000 "$reap")"
        done
    fi
done
for qd in 128 1; do
    b=$((qd < 32 ? qd : 32))
    for e in rawaio fixed async; do
        row "qd $qd, batch $b, aio-bench" "aio-bench $e" "$(bench_count "$e" "$qd" "$b")"
    done
done

mkdir -p "$OUT"
cp "$tsv" "$OUT/benchmarks-callgrind.tsv"
echo "Instructions per I/O in user space (callgrind, (I(2N) - I(N)) / N with N = $N, $(date -u +%Y-%m-%d)):"
echo
awk -F'\t' 'NR > 1 {
        if (!($1 in seen)) { seen[$1] = 1; cases[++n] = $1 }
        if (!($2 in pseen)) { pseen[$2] = 1; paths[++m] = $2 }
        v[$1, $2] = $3
    }
    END {
        line = "| |"; sep = "|---|"
        for (j = 1; j <= n; j++) { line = line " " cases[j] " |"; sep = sep "---:|" }
        print line; print sep
        for (i = 1; i <= m; i++) {
            line = "| " paths[i] " |"
            for (j = 1; j <= n; j++) line = line " " ((cases[j], paths[i]) in v ? v[cases[j], paths[i]] : "") " |"
            print line
        }
    }' "$tsv"
