#!/usr/bin/env bash
# The targets of issue 16, measured side by side: the C loop (benches/c/aio_floor.c)
# against the same loop over each rawaio path (benches/floor.rs: owning, shared and
# exclusive, fixed, async on a minimal executor, async on tokio's current-thread runtime,
# async on a Driven context with AsyncContext::block_on, fixed requests awaited in a tokio
# task through AsyncFixedContext, and futures on both executors and fixed requests
# busy-polling with reactor::BusyPoll) and
# against aio-bench's engines, at queue depth 128 (batch 32) and 1; and two threads with a
# context each against one. The cases of a group run back to back, round after round, so
# that a busy moment of a shared machine slows them alike; each ratio is taken within a
# round.
#
#   sudo bash benches/targets.sh       # prints markdown; writes $OUT/benchmarks-issue16.tsv
#
# Settings: ROUNDS (default 5), RUNTIME seconds per run (default 3), TARGET (default: a
# 1 GiB zram device of its own, added and removed), OUT (default docs); TSV=file prints
# the summary of an earlier run's figures without running anything.
set -euo pipefail
cd "$(dirname "$0")/.."
ROUNDS=${ROUNDS:-5}
RUNTIME=${RUNTIME:-3}
OUT=${OUT:-docs}
source benches/common.sh
if [ -z "${TSV:-}" ]; then
    need_tools gcc jq
    build_all
    setup_target
else
    floor=c rfloor=floor bench=aio-bench target=TARGET
fi

t=$target
r=$RUNTIME
ab="$bench --target $t --rw randread --bs 4k --runtime $r --json"
# group|label|the label it is compared with (empty: a reference)|target ratio|command
# (command "-": no run, a second comparison of a label already measured)
cases=(
    "qd 128, batch 32|c||0|$floor $t 128 32 4096 $r ring"
    "qd 128, batch 32|c, an eventfd per completion|c|0|$floor $t 128 32 4096 $r eventfd"
    "qd 128, batch 32|c, an eventfd in epoll|c|0|$floor $t 128 32 4096 $r epoll"
    "qd 128, batch 32|c, an eventfd relayed to epoll by a poll request|c|0|$floor $t 128 32 4096 $r relay"
    "qd 128, batch 32|fixed|c|0.98|$rfloor fixed $t 128 32 4096 $r ring"
    "qd 128, batch 32|owning|c|0.95|$rfloor owning $t 128 32 4096 $r ring"
    "qd 128, batch 32|owning, exclusive|c|0.95|$rfloor exclusive $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (minimal executor)|c|0.90|$rfloor async $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (tokio current-thread)|c|0.90|$rfloor tokio $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (tokio current-thread, Relay)|c|0.90|$rfloor tokio-relay $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (Driven, block_on)|c|0.90|$rfloor driven $t 128 32 4096 $r ring"
    "qd 128, batch 32|async, fixed requests (tokio current-thread, AsyncFixedContext)|c|0.90|$rfloor fixed-tokio $t 128 32 4096 $r ring"
    "qd 128, batch 32|async, fixed requests (tokio current-thread, AsyncFixedContext, Relay)|c|0.90|$rfloor fixed-relay $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (minimal executor, BusyPoll)|c|0.90|$rfloor busy $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (tokio current-thread, BusyPoll)|c|0.90|$rfloor tokio-busy $t 128 32 4096 $r ring"
    "qd 128, batch 32|async, fixed requests (tokio current-thread, AsyncFixedContext, BusyPoll)|c|0.90|$rfloor fixed-busy $t 128 32 4096 $r ring"
    "qd 128, batch 32|async (minimal executor)|c, an eventfd per completion|0|-"
    "qd 128, batch 32|async (tokio current-thread)|c, an eventfd per completion|0|-"
    "qd 128, batch 32|async (tokio current-thread)|c, an eventfd in epoll|0|-"
    "qd 128, batch 32|async (tokio current-thread, Relay)|c, an eventfd relayed to epoll by a poll request|0|-"
    "qd 128, batch 32|async, fixed requests (tokio current-thread, AsyncFixedContext)|c, an eventfd in epoll|0|-"
    "qd 128, batch 32|async, fixed requests (tokio current-thread, AsyncFixedContext, Relay)|c, an eventfd per completion|0|-"
    "qd 1, submit(1) + ring-spin|c||0|$floor $t 1 1 4096 $r spin"
    "qd 1, submit(1) + ring-spin|fixed|c|0.97|$rfloor fixed $t 1 1 4096 $r spin"
    "qd 1, submit(1) + ring-spin|owning|c|0.95|$rfloor owning $t 1 1 4096 $r spin"
    "qd 1, submit(1) + ring-spin|owning, exclusive|c|0.95|$rfloor exclusive $t 1 1 4096 $r spin"
    "qd 1, submit(1) + ring-spin|async (tokio current-thread, BusyPoll)|c|0|$rfloor tokio-busy $t 1 1 4096 $r spin"
    "qd 1, submit(1) + ring-spin|async, fixed requests (tokio current-thread, AsyncFixedContext, BusyPoll)|c|0|$rfloor fixed-busy $t 1 1 4096 $r spin"
    "qd 1, submit(1) + io_getevents|c||0|$floor $t 1 1 4096 $r getevents"
    "qd 1, submit(1) + io_getevents|fixed|c|0.97|$rfloor fixed $t 1 1 4096 $r getevents"
    "qd 1, submit(1) + io_getevents|owning|c|0.95|$rfloor owning $t 1 1 4096 $r getevents"
    "qd 1, submit(1) + io_getevents|owning, exclusive|c|0.95|$rfloor exclusive $t 1 1 4096 $r getevents"
    "aio-bench, qd 128, batch 32|c||0|$floor $t 128 32 4096 $r ring"
    "aio-bench, qd 128, batch 32|aio-bench fixed|c|0|$ab --qd 128 --batch 32 --engine fixed"
    "aio-bench, qd 128, batch 32|aio-bench rawaio|c|0|$ab --qd 128 --batch 32 --engine rawaio"
    "aio-bench, qd 128, batch 32|aio-bench async|c|0|$ab --qd 128 --batch 32 --engine async"
    "aio-bench, qd 1|c||0|$floor $t 1 1 4096 $r ring"
    "aio-bench, qd 1|aio-bench fixed|c|0|$ab --qd 1 --batch 1 --engine fixed"
    "aio-bench, qd 1|aio-bench rawaio|c|0|$ab --qd 1 --batch 1 --engine rawaio"
    "two threads, a context each (aio-bench, qd 64, batch 16 per thread)|fixed, 1 thread||0|$ab --qd 64 --batch 16 --engine fixed --threads 1"
    "two threads, a context each (aio-bench, qd 64, batch 16 per thread)|fixed, 2 threads|fixed, 1 thread|1.9|$ab --qd 64 --batch 16 --engine fixed --threads 2"
    "two threads, a context each (aio-bench, qd 64, batch 16 per thread)|rawaio, 1 thread||0|$ab --qd 64 --batch 16 --engine rawaio --threads 1"
    "two threads, a context each (aio-bench, qd 64, batch 16 per thread)|rawaio, 2 threads|rawaio, 1 thread|1.9|$ab --qd 64 --batch 16 --engine rawaio --threads 2"
)

# measure CMD...: "iops cpu_us_per_io" from a floor line or an aio-bench JSON line.
measure() {
    local out
    out=$("$@" 2>/dev/null) || { echo "failed: $*" >&2; return 1; }
    case $out in
    ios=*) sed -n 's/.*iops=\([0-9.]*\) usr_us_per_io=\([0-9.]*\) sys_us_per_io=\([0-9.]*\).*/\1 \2 \3/p' <<<"$out" |
        awk '{ printf "%.0f %.4f\n", $1, $2 + $3 }' ;;
    *) jq -r '"\(.iops|floor) \(.cpu_us_per_io)"' <<<"$out" ;;
    esac
}

tsv=$work/issue16.tsv
printf 'group\tround\tlabel\tiops\tcpu_us_per_io\n' >"$tsv"
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -n "${TSV:-}" ]; then
    cp "$TSV" "$tsv"
    ROUNDS=0
fi
for ((round = 1; round <= ROUNDS; round++)); do
    for c in "${cases[@]}"; do
        IFS='|' read -r group label _ _ cmd <<<"$c"
        [ "$cmd" = - ] && continue
        # shellcheck disable=SC2086
        read -r iops cpu <<<"$(measure $cmd)"
        printf '%s\t%s\t%s\t%s\t%s\n' "$group" "$round" "$label" "$iops" "$cpu" | tee -a "$tsv" >&2
    done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
if [ -z "${TSV:-}" ]; then
    mkdir -p "$OUT"
    cp "$tsv" "$OUT/benchmarks-issue16.tsv"
fi

echo "Issue 16's targets, $(date -u +%Y-%m-%d), Linux $(uname -r), $(nproc) CPUs; $ROUNDS alternating rounds"
echo "of $RUNTIME s per case on $t; load average before $load_before, after $load_after."
echo "Each ratio is taken within one round: the median of the rounds, then the range. The IOPS"
echo "ratio is the target's measure; the CPU ratio (the reference's CPU time per I/O over the"
echo "case's) is what a single busy thread's IOPS ratio would be on an idle machine, and it"
echo "scatters much less when other work shares the machine (two threads excepted)."
echo "Raw figures: [benchmarks-issue16.tsv](benchmarks-issue16.tsv)."
echo
echo "| case | compared with | IOPS (median) | CPU per I/O (us) | IOPS ratio | CPU ratio | target (IOPS) |"
echo "|---|---|---:|---:|---:|---:|---:|"
for c in "${cases[@]}"; do
    IFS='|' read -r group label ref goal _ <<<"$c"
    awk -F'\t' -v g="$group" -v l="$label" -v ref="$ref" -v goal="$goal" '
        function median(x, n,   i, j, t) {
            for (i = 1; i <= n; i++) for (j = i + 1; j <= n; j++) if (x[j] < x[i]) { t = x[i]; x[i] = x[j]; x[j] = t }
            return (n % 2) ? x[(n + 1) / 2] : (x[n / 2] + x[n / 2 + 1]) / 2
        }
        NR > 1 && $1 == g { iops[$2, $3] = $4; cpu[$2, $3] = $5; if ($2 > rounds) rounds = $2 }
        END {
            n = 0; k = 0; m = 0; kc = 0
            for (r = 1; r <= rounds; r++) {
                if ((r, l) in iops) { a[++n] = iops[r, l]; b[++m] = cpu[r, l] }
                if (ref != "" && iops[r, ref] > 0) q[++k] = iops[r, l] / iops[r, ref]
                if (ref != "" && cpu[r, l] > 0) c[++kc] = cpu[r, ref] / cpu[r, l]
            }
            if (n == 0) exit
            ratio = "-"; cratio = "-"; verdict = ""
            if (k > 0) {
                lo = q[1]; hi = q[1]
                for (i = 2; i <= k; i++) { if (q[i] < lo) lo = q[i]; if (q[i] > hi) hi = q[i] }
                med = median(q, k)
                ratio = sprintf("**%.3f** (%.3f-%.3f)", med, lo, hi)
                if (goal > 0) verdict = sprintf(">= %s: %s", goal, med >= goal ? "met" : "missed")
            }
            if (kc > 0) {
                lo = c[1]; hi = c[1]
                for (i = 2; i <= kc; i++) { if (c[i] < lo) lo = c[i]; if (c[i] > hi) hi = c[i] }
                cratio = sprintf("%.3f (%.3f-%.3f)", median(c, kc), lo, hi)
            }
            printf "| %s: %s | %s | %d | %.3f | %s | %s | %s |\n", g, l, (ref == "" ? "-" : ref), median(a, n), median(b, m), ratio, cratio, verdict
        }' "$tsv"
done
