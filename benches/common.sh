# Shared by benches/targets.sh and benches/callgrind.sh (sourced, not run): tools, the
# binaries, and a zram device of the script's own.
#
# After build_all: $floor (the C loop), $rfloor (benches/floor.rs, with tokio), $bench
# (aio-bench). After setup_target: $target (TARGET, or a 1 GiB zero-filled zram device
# added for the run and removed at exit). $work is a temporary directory, removed at exit.

work=$(mktemp -d)
zram_dev=""
cleanup() {
    if [ -n "$zram_dev" ]; then
        echo 1 >"/sys/block/$zram_dev/reset" || true
        echo "${zram_dev#zram}" >/sys/class/zram-control/hot_remove || true
    fi
    rm -rf "$work"
}
trap cleanup EXIT

# need_tools TOOL...: installs the Debian packages of the tools that are missing.
need_tools() {
    local need=() tool
    for tool in "$@"; do command -v "$tool" >/dev/null || need+=("$tool"); done
    if [ ${#need[@]} -gt 0 ]; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq && apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
    fi
}

build_all() {
    echo "building the C loop, benches/floor.rs and aio-bench" >&2
    gcc -O2 -Wall -o "$work/aio_floor" benches/c/aio_floor.c
    floor=$work/aio_floor
    rfloor=$(cargo bench -q --bench floor --features tokio --no-run --message-format=json 2>/dev/null |
        jq -r 'select(.executable != null and .target.name == "floor") | .executable' | tail -1)
    cargo build -q --release -p rawaio-tools --bin aio-bench
    bench=$PWD/target/release/aio-bench
}

setup_target() {
    if [ -n "${TARGET:-}" ]; then
        target=$TARGET
        return
    fi
    [ "$(id -u)" = 0 ] || { echo "a zram device needs root (or set TARGET)" >&2; exit 1; }
    [ -e /sys/class/zram-control ] || modprobe zram num_devices=1
    zram_dev=zram$(cat /sys/class/zram-control/hot_add)
    echo 1G >"/sys/block/$zram_dev/disksize"
    target=/dev/$zram_dev
    echo "target: $target (1 GiB zram, zero-filled, added for this run)" >&2
}
