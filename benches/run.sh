#!/usr/bin/env bash
# Side-by-side benchmark of rawaio against the alternatives, over queue depths 1 to 128.
#
#   sudo bash benches/run.sh            # writes docs/benchmarks.md and docs/benchmarks-*.svg
#
# What it does:
#   1. installs fio, jq and gcc if missing, builds aio-bench (release) and the minimal C
#      loop (benches/c/aio_floor.c);
#   2. sets up the targets: a 1 GiB /dev/zram0 (zero-filled: never written) and a 1 GiB
#      file written with zeros on the root file system (ext4 on the virtio disk here);
#   3. runs 4 KiB O_DIRECT random reads on each, one thread, for every queue depth and
#      engine: the C floor, aio-bench's rawaio engine (and its async engine when built
#      with it), fio's libaio, libaio with userspace_reap, io_uring and psync (psync:
#      one thread per queue slot); batch = min(32, qd) wherever an engine batches;
#   4. measures the targets of issue #5 again in alternating rounds (qd 128);
#   5. writes the results to docs/benchmarks.tsv, the tables to docs/benchmarks.md and
#      IOPS and CPU per I/O against queue depth to docs/benchmarks-<target>.svg (drawn by
#      benches/plot with the plotters crate; `cargo run -p rawaio-bench-plot -- TSV DIR`
#      redraws them from a TSV without running anything);
#   6. appends issue 16's targets (benches/targets.sh: the C loop against each rawaio
#      path in alternating rounds, at qd 128 and qd 1) and the instructions per I/O of
#      each path (benches/callgrind.sh) to docs/benchmarks.md, unless ISSUE16=0;
#   7. tears down what it set up (zram reset, the file removed), also on failure.
#
# Settings (environment): RUNTIME seconds per run (default 3), QDS (default
# "1 2 4 8 16 32 64 128"), TARGETS (default "zram ext4"), FILE_DIR (default /var/tmp),
# OUT (default docs), HEADLINE_ROUNDS (default 5: alternating rounds of the target
# comparisons, written to docs/benchmarks-targets.tsv). CPU per I/O is the process's
# user + system time (bash `time`, which includes every thread, io_uring's workers too)
# divided by the I/Os done, the same for every engine; IOPS come from each program's own
# report.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
RUNTIME=${RUNTIME:-3}
QDS=${QDS:-"1 2 4 8 16 32 64 128"}
TARGETS=${TARGETS:-"zram ext4"}
FILE_DIR=${FILE_DIR:-/var/tmp}
OUT=${OUT:-docs}
HEADLINE_ROUNDS=${HEADLINE_ROUNDS:-5}
SIZE_MB=1024
BS=4096

[ "$(id -u)" = 0 ] || { echo "benches/run.sh needs root (zram set-up)" >&2; exit 1; }

need=()
for tool in fio jq gcc; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

work=$(mktemp -d)
zram_set_up=0
file=""
cleanup() {
    if [ "$zram_set_up" = 1 ]; then echo 1 >/sys/block/zram0/reset || true; fi
    if [ -n "$file" ]; then rm -f "$file"; fi
    rm -rf "$work"
}
trap cleanup EXIT

echo "building aio-bench and the C floor"
cargo build -q --release -p rawaio-tools --bin aio-bench
bench=$root/target/release/aio-bench
gcc -O2 -Wall -o "$work/aio_floor" benches/c/aio_floor.c
floor=$work/aio_floor
engines="c-floor rawaio"
if "$bench" --help 2>&1 | grep -q '\bfixed\b'; then engines+=" rawaio-fixed"; fi
if "$bench" --help 2>&1 | grep -q '\basync\b'; then engines+=" rawaio-async"; fi
engines+=" fio-libaio fio-libaio-ur fio-io_uring fio-psync"

# Sets `path` to the target's path, setting the target up on first use.
target_path() {
    case $1 in
    zram)
        if [ "$zram_set_up" = 0 ]; then
            [ -e /dev/zram0 ] || modprobe zram num_devices=1
            if [ "$(cat /sys/block/zram0/disksize)" != 0 ]; then
                echo "/dev/zram0 is in use (disksize != 0): not touching it" >&2
                exit 1
            fi
            echo "${SIZE_MB}M" >/sys/block/zram0/disksize
            zram_set_up=1
        fi
        path=/dev/zram0
        ;;
    ext4)
        if [ -z "$file" ]; then
            file=$FILE_DIR/rawaio-bench.$$
            # Real zero blocks, so that reads reach the disk (unwritten extents would not).
            dd if=/dev/zero of="$file" bs=1M count=$SIZE_MB oflag=direct conv=fsync status=none
        fi
        path=$file
        ;;
    *) echo "unknown target $1" >&2; exit 1 ;;
    esac
}

# Runs a command, prints "iops cpu_us_per_io" from its output and its CPU time.
# $1: how to read the output (floor, bench, fio), then the command.
measure() {
    local kind=$1; shift
    local times
    times=$( { TIMEFORMAT='%3U %3S'; time "$@" >"$work/out" 2>"$work/err"; } 2>&1 ) || {
        echo "failed: $*" >&2; cat "$work/err" >&2; return 1; }
    local iops ios
    case $kind in
    floor)
        iops=$(sed -n 's/.*iops=\([0-9.]*\).*/\1/p' "$work/out")
        ios=$(sed -n 's/^ios=\([0-9]*\).*/\1/p' "$work/out") ;;
    bench)
        iops=$(jq -r '.iops' "$work/out")
        ios=$(jq -r '.ios' "$work/out") ;;
    fio)
        iops=$(jq -r '.jobs[0].read.iops' "$work/out")
        ios=$(jq -r '.jobs[0].read.total_ios' "$work/out") ;;
    esac
    awk -v t="$times" -v iops="$iops" -v ios="$ios" 'BEGIN {
        split(t, a, " "); printf "%.0f %.3f\n", iops, (a[1] + a[2]) * 1e6 / ios }'
}

run_engine() {
    local engine=$1 path=$2 qd=$3 batch=$4
    local fio_common=(--name=bench "--filename=$path" --direct=1 --rw=randread "--bs=$BS"
        --norandommap --randrepeat=0 "--runtime=$RUNTIME" --time_based --thread
        --output-format=json "--size=${SIZE_MB}m")
    local fio_queue=("--iodepth=$qd" "--iodepth_batch_submit=$batch")
    case $engine in
    c-floor) measure floor "$floor" "$path" "$qd" "$batch" "$BS" "$RUNTIME" ;;
    rawaio | rawaio-async | rawaio-fixed)
        local e=rawaio
        case $engine in rawaio-async) e=async ;; rawaio-fixed) e=fixed ;; esac
        measure bench "$bench" --target "$path" --rw randread --bs "$BS" --qd "$qd" \
            --batch "$batch" --runtime "$RUNTIME" --engine "$e" --reap ring --json ;;
    fio-libaio) measure fio fio "${fio_common[@]}" --ioengine=libaio "${fio_queue[@]}" ;;
    fio-libaio-ur)
        measure fio fio "${fio_common[@]}" --ioengine=libaio --userspace_reap=1 "${fio_queue[@]}" ;;
    fio-libaio-default)
        measure fio fio "${fio_common[@]}" --ioengine=libaio "--iodepth=$qd" ;;
    fio-io_uring) measure fio fio "${fio_common[@]}" --ioengine=io_uring "${fio_queue[@]}" ;;
    fio-psync)
        measure fio fio "${fio_common[@]}" --ioengine=psync "--numjobs=$qd" --group_reporting ;;
    esac
}

results=$work/results.tsv
printf 'target\tengine\tqd\tiops\tcpu_us_per_io\n' >"$results"
for t in $TARGETS; do
    target_path "$t"
    for qd in $QDS; do
        batch=$(( qd < 32 ? qd : 32 ))
        list=$engines
        # The headline comparison: fio's libaio engine with its default batching.
        [ "$qd" = 128 ] && list+=" fio-libaio-default"
        for engine in $list; do
            figures=$(run_engine "$engine" "$path" "$qd" "$batch")
            read -r iops cpu <<<"$figures"
            printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$engine" "$qd" "$iops" "$cpu" | tee -a "$results"
        done
    done
done

# The targets of issue #5, measured apart: qd 128, batch 32, the engines compared
# alternating round by round, so that a busy moment of the machine hits them alike.
headline=$work/headline.tsv
printf 'target\tround\tengine\tiops\tcpu_us_per_io\n' >"$headline"
for t in $TARGETS; do
    case $t in
    zram) list="c-floor rawaio fio-libaio-default" ;;
    ext4) list="rawaio fio-io_uring" ;;
    *) continue ;;
    esac
    target_path "$t"
    for ((round = 1; round <= HEADLINE_ROUNDS; round++)); do
        for engine in $list; do
            figures=$(run_engine "$engine" "$path" 128 32)
            read -r iops cpu <<<"$figures"
            printf '%s\t%s\t%s\t%s\t%s\n' "$t" "$round" "$engine" "$iops" "$cpu" | tee -a "$headline"
        done
    done
done

mkdir -p "$OUT"
cp "$results" "$OUT/benchmarks.tsv"
cp "$headline" "$OUT/benchmarks-targets.tsv"
kernel=$(uname -r)
cpu=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
ncpu=$(nproc)
fio_version=$(fio --version)
when=$(date -u +%Y-%m-%d)

# The tables: one per target and figure, a row per queue depth, a column per engine.
{
    echo "# Benchmarks"
    echo
    echo "Written by \`sudo bash benches/run.sh\` on $when: Linux $kernel, $ncpu x $cpu, $fio_version."
    echo "4 KiB O_DIRECT random reads, one thread, ${RUNTIME} s per run, batch = min(32, qd)"
    echo "wherever the engine batches; psync runs one thread per queue slot. CPU per I/O is the"
    echo "process's user + system time over the I/Os it did. Raw figures: [benchmarks.tsv](benchmarks.tsv);"
    echo "the plots are drawn from them by benches/plot (\`cargo run -p rawaio-bench-plot -- docs/benchmarks.tsv docs\`)."
    echo "Engines: **c-floor** is benches/c/aio_floor.c (raw io_submit batches, ring reaping, no"
    echo "bookkeeping); **rawaio** is \`aio-bench --engine rawaio --reap ring\`; **rawaio-fixed** is"
    echo "\`aio-bench --engine fixed\` (a FixedContext slot per queue slot); **fio-libaio-ur** is"
    echo "fio's libaio engine with \`userspace_reap=1\`; **fio-libaio-default** (qd 128 only) is fio's"
    echo "libaio engine with its default batching. Each cell is a single run on a shared VM: expect"
    echo "+-10% between neighbours; the targets at the end are measured in alternating rounds."
    for t in $TARGETS; do
        case $t in
        zram) echo; echo "## /dev/zram0 (1 GiB, zero-filled)" ;;
        ext4) echo; echo "## 1 GiB file on $(df --output=fstype "$FILE_DIR" | tail -1) ($FILE_DIR)" ;;
        esac
        echo
        echo "![IOPS and CPU time per I/O against the queue depth, one line per engine](benchmarks-$t.svg)"
        for col in 4 5; do
            echo
            if [ "$col" = 4 ]; then echo "IOPS:"; else echo "CPU per I/O (us):"; fi
            echo
            awk -F'\t' -v t="$t" -v col="$col" '
                NR > 1 && $1 == t {
                    if (!($2 in seen)) { seen[$2] = 1; order[++n] = $2 }
                    if (!($3 in qseen)) { qseen[$3] = 1; qs[++m] = $3 }
                    v[$2, $3] = $col
                }
                END {
                    line = "| qd |"; sep = "|---:|"
                    for (i = 1; i <= n; i++) { line = line " " order[i] " |"; sep = sep "---:|" }
                    print line; print sep
                    for (j = 1; j <= m; j++) {
                        line = "| " qs[j] " |"
                        for (i = 1; i <= n; i++) line = line " " ((order[i], qs[j]) in v ? v[order[i], qs[j]] : "") " |"
                        print line
                    }
                }' "$results"
        done
    done
    echo
    echo "## Targets (issue #5)"
    echo
    echo "Each ratio is taken within one round (the engines run back to back, 128 in flight,"
    echo "batch 32, ${RUNTIME} s each); the median of $HEADLINE_ROUNDS rounds is shown with the range."
    echo "Raw figures: [benchmarks-targets.tsv](benchmarks-targets.tsv)."
    echo
    awk -F'\t' '
        NR > 1 { v[$1, $2, $3, "iops"] = $4; v[$1, $2, $3, "cpu"] = $5; if ($2 > rounds) rounds = $2 }
        # Median and range of the per-round ratios of field f: "median (min-max)".
        function stat(t, a, b, f,   r, n, x, i, j, tmp) {
            n = 0
            for (r = 1; r <= rounds; r++)
                if (v[t, r, b, f] > 0) x[++n] = v[t, r, a, f] / v[t, r, b, f]
            if (n == 0) return "n/a"
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { tmp = x[i]; x[i] = x[j]; x[j] = tmp }
            return sprintf("%.3f (%.3f-%.3f)", (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2, x[1], x[n])
        }
        function med(t, e, f,   r, n, x, i, j, tmp) {
            n = 0
            for (r = 1; r <= rounds; r++) if ((t, r, e, f) in v) x[++n] = v[t, r, e, f]
            if (n == 0) return "n/a"
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { tmp = x[i]; x[i] = x[j]; x[j] = tmp }
            return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        }
        END {
            if (("zram", 1, "rawaio", "iops") in v) {
                printf "- zram: rawaio %d IOPS (median), the C floor %d, fio libaio --iodepth=128 %d.\n", med("zram", "rawaio", "iops"), med("zram", "c-floor", "iops"), med("zram", "fio-libaio-default", "iops")
                printf "  rawaio / C floor = **%s** (target >= 0.95); rawaio / fio libaio = **%s** (target >= 1.6).\n", stat("zram", "rawaio", "c-floor", "iops"), stat("zram", "rawaio", "fio-libaio-default", "iops")
            }
            if (("ext4", 1, "rawaio", "iops") in v) {
                printf "- ext4 file: rawaio %d IOPS, fio io_uring %d (the device ceiling); CPU per I/O rawaio %s us, fio io_uring %s us.\n", med("ext4", "rawaio", "iops"), med("ext4", "fio-io_uring", "iops"), med("ext4", "rawaio", "cpu"), med("ext4", "fio-io_uring", "cpu")
                printf "  rawaio / fio io_uring: IOPS **%s**, CPU per I/O **%s** (target < 1).\n", stat("ext4", "rawaio", "fio-io_uring", "iops"), stat("ext4", "rawaio", "fio-io_uring", "cpu")
            }
        }' "$headline"
    echo "- An empty non-blocking reap: \`cargo bench --bench micro\` (case \`reap_empty\`)."
} >"$OUT/benchmarks.md"

# The plots: IOPS (left) and CPU per I/O (right) against queue depth (log-2 axis), one
# line per engine, drawn by benches/plot (the plotters crate) from the TSV.
cargo run -q --release -p rawaio-bench-plot -- "$OUT/benchmarks.tsv" "$OUT" >/dev/null
if [ "${ISSUE16:-1}" != 0 ]; then
    # Each sets up a zram device of its own.
    {
        echo
        echo "## Targets (issue 16): fixed requests, the async path, queue depth 1"
        echo
        echo "\`sudo bash benches/targets.sh\`: the C loop (benches/c/aio_floor.c) against the same loop over"
        echo "each rawaio path (benches/floor.rs) and against aio-bench's engines."
        echo
        OUT=$OUT bash benches/targets.sh
        echo
        echo "## Instructions per I/O (callgrind)"
        echo
        echo "\`sudo bash benches/callgrind.sh\`: user-space instructions per I/O, deterministic whatever the load."
        echo
        OUT=$OUT bash benches/callgrind.sh
    } >>"$OUT/benchmarks.md"
fi
echo "wrote $OUT/benchmarks.md, $OUT/benchmarks.tsv and $(for t in $TARGETS; do printf '%s ' "$OUT/benchmarks-$t.svg"; done)"
