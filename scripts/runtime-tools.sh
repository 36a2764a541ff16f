#!/usr/bin/env bash
# Run opencontainers/runtime-tools' validation programs against
# pycontainer-runtime (and runc, for comparison; the runtimes take turns per
# program) and print pass/fail per program and the totals. Not part of the normal
# suite: it runs an external suite, as the docker-py script does.
#
#   bash scripts/runtime-tools.sh RUNTIME_TOOLS_DIR [PROGRAM...]
#
# RUNTIME_TOOLS_DIR is a runtime-tools tree whose validation programs are
# already built (`validation/*/*.t` and `runtimetest` at its top); this
# script builds nothing. Build it at a commit whose go.mod says go 1.19
# (e.g. 260e151): later ones read runtime-spec 1.3, where pids.limit is a
# pointer, and their pids checks compare pointers, failing every runtime. Every program runs from that directory (they read `rootfs-amd64.tar.gz` and
# `runtimetest` from there). Set RUNTIMES to choose (default: ours and runc);
# TIMEOUT is per program (default 120 s). Each program's TAP output is kept in
# $OUT (default: a temporary directory, printed at the end).
# Run it as root, under the machine's test lock.
set -uo pipefail

die() { echo "runtime-tools.sh: $*" >&2; exit 2; }

[ $# -ge 1 ] || die "usage: bash scripts/runtime-tools.sh RUNTIME_TOOLS_DIR [PROGRAM...]"
[ "$(id -u)" -eq 0 ] || die "must be run as root"
tools=$(readlink -f "$1")
shift
here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)
ours="$here/pycontainer/oci/pycontainer-runtime"
[ -x "$ours" ] || die "$ours is not built (bash setup.sh test --collect-only builds it)"
[ -x "$tools/runtimetest" ] || die "$tools/runtimetest is not built"
RUNTIMES=${RUNTIMES:-"$ours $(command -v runc || true)"}
TIMEOUT=${TIMEOUT:-120}
OUT=${OUT:-$(mktemp -d /tmp/pyc-runtime-tools.XXXXXX)}

if [ $# -gt 0 ]; then
    programs=("$@")
else
    mapfile -t programs < <(cd "$tools/validation" && ls -d */ | tr -d / | grep -vx util)
fi

# A program passes when it exits 0 and its TAP has no "not ok" line (a
# "# SKIP" is not counted as a failure by TAP, nor here: say so in the table).
verdict() {
    local log=$1 rc=$2
    if [ "$rc" -eq 124 ]; then echo "timeout"
    elif [ "$rc" -ne 0 ] || grep -q '^not ok' "$log"; then echo "FAIL"
    elif grep -q '^ok.*# SKIP' "$log"; then echo "pass(skips)"
    else echo "pass"; fi
}

# A program that fails half-way may leave its container behind: delete what
# it made (ids not there before it ran), then its bundles (ocitest* in
# $TMPDIR, named before/after: tar gives them old mtimes) and any mount a
# runtime left on them (a container without a mount namespace mounts there).
leftovers() { "$1" list -q 2>/dev/null | sort; }
bundles() { find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'ocitest*' | sort; }
cleanup() {
    local rt=$1 before=$2 bundles_before=$3 id b m
    for id in $(comm -13 <(echo "$before") <(leftovers "$rt")); do
        "$rt" delete --force "$id" >/dev/null 2>&1
    done
    for b in $(comm -13 <(echo "$bundles_before") <(bundles)); do
        for m in $(awk -v b="$b" '$5 == b || index($5, b "/") == 1 {print $5}' \
                   /proc/self/mountinfo | sort -r); do
            umount -l "$m"
        done
        rm -rf "$b"
    done
}

declare -A total
for rt in $RUNTIMES; do
    name=$(basename "$rt")
    total[$name]=0
    mkdir -p "$OUT/$name"
done

printf '%-40s' "program"
for rt in $RUNTIMES; do printf ' %-20s' "$(basename "$rt")"; done
echo
for p in "${programs[@]}"; do
    bin="$tools/validation/$p/$p.t"
    [ -x "$bin" ] || die "$bin is not built"
    printf '%-40s' "$p"
    for rt in $RUNTIMES; do
        name=$(basename "$rt")
        log="$OUT/$name/$p.tap"
        before=$(leftovers "$rt")
        bundles_before=$(bundles)
        (cd "$tools" && RUNTIME=$rt timeout -k 5 "$TIMEOUT" "$bin") >"$log" 2>&1
        v=$(verdict "$log" $?)
        cleanup "$rt" "$before" "$bundles_before"
        case "$v" in pass*) total[$name]=$((total[$name] + 1)) ;; esac
        printf ' %-20s' "$v"
    done
    echo
done
echo
for rt in $RUNTIMES; do
    name=$(basename "$rt")
    echo "$name: ${total[$name]} of ${#programs[@]} programs pass"
done
echo "TAP output: $OUT"
