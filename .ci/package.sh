#!/usr/bin/env bash
# Packages every publishable crate of the workspace and runs its tests from the package,
# as a user (or a distribution packager) who downloads it from crates.io would:
#
#   1. the crates: every workspace member that `cargo metadata` does not mark
#      `publish = false` (a crate added to the workspace is checked from then on);
#   2. `cargo package` for each, which must print no warning (an excluded benchmark, a
#      missing description, ...); each .crate must hold LICENSE, LICENSE-APACHE and its
#      README;
#   3. each .crate unpacked outside the repository (so no file of the workspace can be
#      reached), its dependencies on the other crates of the workspace taken from their
#      unpacked packages too (a `[patch.crates-io]` in the unpacked crate's own
#      .cargo/config.toml: they are not on crates.io yet), then `cargo test --all-features`
#      there: unit, integration and doc tests, examples and benchmarks built.
#
#   bash .ci/package.sh            # every publishable crate
#   bash .ci/package.sh rawaio-abi # some
#
# The unpacked sources go to a directory outside the repository, named after it
# (${TMPDIR:-/tmp}/rawaio-package-test-<hash of the repository's path>), replaced on each
# run; the build to target/package-test/. Both are kept, so a second run rebuilds only
# the crates themselves: the sources are extracted with fresh times (tar -m), so cargo
# never takes an old build of them for current, and each stays at the path its test
# binaries were built with (they read files through CARGO_MANIFEST_DIR).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD


# name version manifest_dir readme deps-to-patch (comma-separated, transitive, "-" if none)
# doctests (yes: its library has doctests)
all_crates=$(cargo metadata --no-deps --format-version 1 | python3 -c '
import json, sys
meta = json.load(sys.stdin)
members = set(meta["workspace_members"])
pkgs = {p["name"]: p for p in meta["packages"] if p["id"] in members}
publishable = {n for n, p in pkgs.items() if p["publish"] != []}
def local_deps(name, seen):
    for d in pkgs[name]["dependencies"]:
        if d.get("path") and d["name"] in pkgs and d["name"] not in seen:
            if d["name"] not in publishable:
                sys.exit("%s depends on %s, which is publish = false" % (name, d["name"]))
            seen.add(d["name"])
            # Normal and build dependencies of a dependency; its dev-dependencies do
            # not reach this crate.
            local_deps_normal(d["name"], seen)
    return seen
def local_deps_normal(name, seen):
    for d in pkgs[name]["dependencies"]:
        if d.get("path") and d["kind"] != "dev" and d["name"] not in seen:
            seen.add(d["name"])
            local_deps_normal(d["name"], seen)
for name in sorted(publishable):
    p = pkgs[name]
    deps = sorted(local_deps(name, set()) - {name})
    readme = p["readme"] or "-"
    manifest_dir = p["manifest_path"].rsplit("/", 1)[0]
    doctests = any(t["doctest"] for t in p["targets"])
    print(name, p["version"], manifest_dir, readme, ",".join(deps) or "-",
          "yes" if doctests else "no")
')
crates=$all_crates
if [ $# -gt 0 ]; then
    wanted=" $* "
    crates=$(while read -r name rest; do
        case "$wanted" in *" $name "*) echo "$name $rest" ;; esac
    done <<<"$all_crates")
fi
[ -n "$crates" ] || { echo "package.sh: no publishable crate selected" >&2; exit 1; }
echo "publishable crates:"
sed 's/^/  /' <<<"$crates"

target_dir=$root/target/package-test
work=${TMPDIR:-/tmp}/rawaio-package-test-$(printf '%s' "$root" | sha256sum | cut -c1-12)
rm -rf "$work"
mkdir -p "$work"

# 1-2. Package every publishable crate at once (cargo resolves the unpublished ones among
# themselves, so a crate cannot be packaged without those it depends on).
package_args=()
while read -r name _; do package_args+=(-p "$name"); done <<<"$all_crates"
log=$work/package.log
cargo package --no-verify --allow-dirty "${package_args[@]}" 2>&1 | tee "$log"
if grep -q '^warning' "$log"; then
    echo "package.sh: cargo package warned (see above)" >&2
    exit 1
fi
while read -r name version _dir readme _deps; do
    crate=target/package/$name-$version.crate
    listing=$(tar tzf "$crate")
    for file in LICENSE LICENSE-APACHE "$readme"; do
        if [ "$file" = - ] || ! grep -qx "$name-$version/$file" <<<"$listing"; then
            echo "package.sh: $crate has no ${file/#-/README}" >&2
            exit 1
        fi
    done
    tar xzmf "$crate" -C "$work"
    echo "$crate: $(wc -l <<<"$listing") files, $(du -k "$crate" | cut -f1) KiB"
done <<<"$all_crates"

# 3. Test each from its unpacked package.
# run_doctests: the doctests of the crate in the current directory; every one must pass
# from the package (none reads a file of the workspace's).
run_doctests() {
    cargo test -q --all-features --doc
}

while read -r name version _dir _readme deps doctests; do
    dir=$work/$name-$version
    if [ "$deps" != - ]; then
        mkdir -p "$dir/.cargo"
        {
            echo "[patch.crates-io]"
            for dep in ${deps//,/ }; do
                dep_version=$(awk -v n="$dep" '$1 == n { print $2 }' <<<"$all_crates")
                echo "$dep = { path = \"$work/$dep-$dep_version\" }"
            done
        } >"$dir/.cargo/config.toml"
    fi
    echo "--- $name-$version: cargo test --all-features in the unpacked package"
    t0=$SECONDS
    (
        cd "$dir"
        export CARGO_TARGET_DIR=$target_dir
        # What `cargo test` runs, with the doctests apart: unit and integration tests,
        # the examples built (as `cargo test` does), and the benchmarks built.
        cargo build -q --all-features --examples --benches
        cargo test -q --all-features --tests
        if [ "$doctests" = yes ]; then run_doctests; fi
    )
    echo "--- $name-$version: tests passed from the package in $((SECONDS - t0)) s"
done <<<"$crates"
