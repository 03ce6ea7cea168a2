#!/usr/bin/env bash
# Runs every cargo-fuzz target for a bounded time and reports executions, time and
# crashes per target. Exits non-zero if any target found a crash (the reproducer is left
# in fuzz/artifacts/<target>/).
#
# Usage: fuzz/run.sh [SECONDS_PER_TARGET] [TARGET...]
#   SECONDS_PER_TARGET  default 20 (what .ci/run uses); e.g. 600 for a long run
#   RECORD=FILE         also append the figures, as a Markdown table, to FILE
#
# Each target starts from its committed seeds (fuzz/seeds/<target>) plus whatever it
# found before (fuzz/corpus/<target>, not committed). Needs the nightly toolchain and
# cargo-fuzz (`cargo install cargo-fuzz --locked`).
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-20}
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(abi_decode op_build queue_model capi_submit)
fi
command -v cargo-fuzz >/dev/null || { echo "fuzz/run.sh: cargo-fuzz not installed" >&2; exit 1; }

cargo +nightly fuzz build -O

rows=()
failed=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t" "seeds/$t"
    log=$(mktemp)
    start=$SECONDS
    status=0
    # -timeout: one input running longer than this is a hang; -rss_limit_mb: a leak.
    cargo +nightly fuzz run -O "$t" "corpus/$t" "seeds/$t" -- \
        -max_total_time="$secs" -timeout=30 -rss_limit_mb=3072 -max_len=4096 \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    took=$((SECONDS - start))
    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    corpus=$(find "corpus/$t" -type f | wc -l)
    crashes=0
    if [ "$status" -ne 0 ]; then
        crashes=1
        failed=1
        echo "=== $t FAILED (exit $status); the end of its log:" >&2
        tail -40 "$log" >&2
    fi
    printf '%-12s %10s executions in %4ss, corpus %5s, crashes %s\n' \
        "$t" "${execs:-?}" "$took" "$corpus" "$crashes"
    rows+=("| $t | ${execs:-?} | ${took} s | $corpus | $crashes |")
    rm -f "$log"
done

if [ -n "${RECORD:-}" ]; then
    {
        echo
        echo "Fuzz run of $(date -u +%Y-%m-%d), ${secs} s per target, $(nproc) CPUs, commit $(git rev-parse --short HEAD 2>/dev/null || echo '?'):"
        echo
        echo "| target | executions | time | corpus entries | crashes |"
        echo "|---|---:|---:|---:|---:|"
        printf '%s\n' "${rows[@]}"
    } >>"$RECORD"
fi
exit "$failed"
