#!/usr/bin/env bash
# Set up pycontainer on a Debian machine (as root) and run its demo or its tests.
#
#   bash setup.sh demo                 # install what is missing, then run the demo
#   bash setup.sh test [pytest args]   # install what is missing, then run the tests
#
# Idempotent: Debian packages are installed only when one is missing, the venv
# (.venv) is refreshed only when pyproject.toml or setup.py change, and the C core
# is rebuilt only when a file in csrc/ or pycontainer/_core/build.py changes.
set -euo pipefail

# Debian packages the engine and its tests need:
#   gcc libc6-dev pkg-config libseccomp-dev  build the C core (cffi, API mode)
#   busybox-static                           the embedded default base image
#   runc                                     baseline for benchmarks/
#   iproute2 iptables                        container networking (veth, bridge, NAT)
#   nftables                                 libnftables: the ip pycontainer table (NAT, ports)
#   util-linux procps psmisc                 nsenter/mount/unshare, ps/pgrep, fuser (tests)
#   skopeo umoci podman                      image archive interop (tests, benchmarks/unpack.py)
#   openssl curl                             test CAs and certificates; the pull benchmark's floor
#   docker-registry                          the reference registry server (registry tests, benchmarks)
#   buildah                                  the peer of the build tests and benchmarks/build.py
#   docker.io                                dockerd 20.10: the peer of the benchmarks, a real engine over
#                                            pycontainer-runtime; also a docker CLI where none is installed
APT_PACKAGES="gcc libc6-dev pkg-config libseccomp-dev busybox-static runc iproute2 iptables nftables util-linux procps psmisc skopeo umoci podman docker-registry buildah openssl curl docker.io"
APT_LISTS_MAX_AGE_MIN=360   # skip `apt-get update` when the lists are newer than 6 h
MIN_PYTHON="3.11"
# "compat": the editable install is one plain path in a .pth file. The default
# mode installs an import finder that costs every Python process ~20 ms at
# start-up (pathlib, importlib.util), which is most of `pycontainer --version`.
EDITABLE_MODE=compat

usage() {
    echo "usage: bash setup.sh demo" >&2
    echo "       bash setup.sh test [pytest args]" >&2
    exit 2
}

die() {
    echo "setup.sh: $*" >&2
    exit 1
}

say() {
    echo "setup.sh: $*" >&2
}

# Run a command quietly; show its output only if it fails.
quiet() {
    local log rc=0
    log=$(mktemp)
    "$@" >"$log" 2>&1 || rc=$?
    if [ "$rc" -ne 0 ]; then
        cat "$log" >&2
        echo "setup.sh: failed ($rc): $*" >&2
    fi
    rm -f "$log"
    return "$rc"
}

apt_lists_fresh() {
    local lists=/var/lib/apt/lists
    compgen -G "$lists/*_Packages*" >/dev/null || return 1
    [ -n "$(find "$lists" "$lists/partial" -maxdepth 1 -mmin "-$APT_LISTS_MAX_AGE_MIN" -print -quit 2>/dev/null)" ]
}

missing_packages() {
    # One dpkg-query for all packages; unknown ones print nothing and count as missing.
    local installed p
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "$@" 2>/dev/null | awk '$2 == "ii" {print $1}') || true
    for p in "$@"; do
        grep -qx -- "$p" <<<"$installed" || echo "$p"
    done
}

install_packages() {
    local missing
    missing=$(missing_packages "$@" | tr '\n' ' ')
    [ -n "${missing// /}" ] || return 0
    export DEBIAN_FRONTEND=noninteractive
    local updated=0
    if ! apt_lists_fresh; then
        say "apt-get update"
        quiet apt-get -q update
        updated=1
    fi
    say "installing Debian packages: $missing"
    # Packages with services (dockerd, docker-registry) must not start them: the
    # tests start their own on loopback or UNIX sockets, and a running dockerd
    # would rewrite the firewall. invoke-rc.d asks policy-rc.d; 101 means "no".
    local policy=/usr/sbin/policy-rc.d made_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy" && made_policy=1
    fi
    # shellcheck disable=SC2086
    if ! quiet apt-get -q install -y --no-install-recommends $missing; then
        [ "$updated" = 0 ] || { [ "$made_policy" = 0 ] || rm -f "$policy"; die "apt-get install failed"; }
        say "retrying after apt-get update"
        quiet apt-get -q update
        # shellcheck disable=SC2086
        quiet apt-get -q install -y --no-install-recommends $missing || { [ "$made_policy" = 0 ] || rm -f "$policy"; die "apt-get install failed"; }
    fi
    [ "$made_policy" = 0 ] || rm -f "$policy"
}

# The Debian packages that the python3 on PATH needs to build and make venvs.
python_packages() {
    if ! command -v python3 >/dev/null 2>&1; then
        echo "python3 python3-dev python3-venv"
    elif python3 -c 'import sys; sys.exit(sys.base_prefix != "/usr")' 2>/dev/null; then
        # Debian's own Python: headers and ensurepip come in separate packages.
        echo "python3-dev python3-venv"
    fi
    # Any other Python (pyenv, a source build) ships its headers and ensurepip.
}

src_hash() {
    # Everything that the compiled extension depends on, plus the interpreter.
    {
        find csrc pycontainer/_core/build.py -type f \( -name '*.c' -o -name '*.h' -o -name '*.py' \) -print0 2>/dev/null |
            LC_ALL=C sort -z | xargs -0 -r sha256sum
        .venv/bin/python -c 'import sys; print(sys.version)'
    } | sha256sum | cut -d' ' -f1
}

install_hash() {
    {
        sha256sum pyproject.toml setup.py bin/*      # bin/: copied at install
        .venv/bin/python -c 'import sys; print(sys.version)'
        echo "$EDITABLE_MODE"
    } | sha256sum | cut -d' ' -f1
}

venv_ok() {
    [ -x .venv/bin/python ] &&
        .venv/bin/python -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" 2>/dev/null
}

installed_ok() {
    # The checkout's package (not another copy) and the test tools are importable.
    .venv/bin/python - "$PWD" <<'PY' 2>/dev/null
import importlib.util, os, sys
root = sys.argv[1]
for name in ("cffi", "pytest", "hypothesis", "setuptools", "importlinter"):
    if importlib.util.find_spec(name) is None:
        sys.exit(1)
spec = importlib.util.find_spec("pycontainer")
if spec is None or not spec.submodule_search_locations:
    sys.exit(1)
here = os.path.realpath(os.path.join(root, "pycontainer"))
sys.exit(0 if here in map(os.path.realpath, spec.submodule_search_locations) else 1)
PY
}

extension_built() {
    compgen -G "pycontainer/_core/_pyc*.so" >/dev/null
}

setup_python() {
    python3 -c "import sys; sys.exit(sys.version_info < tuple(map(int, '$MIN_PYTHON'.split('.'))))" ||
        die "pycontainer needs Python >= $MIN_PYTHON; python3 on PATH is $(python3 -V 2>&1) ($(command -v python3))"

    if ! venv_ok; then
        say "creating .venv with $(python3 -V 2>&1)"
        rm -rf .venv
        quiet python3 -m venv .venv
    fi

    local stamp=.venv/.pycontainer-install
    local want
    want=$(install_hash)
    if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ] || ! installed_ok; then
        say "installing pycontainer (editable) and its test tools into .venv"
        local pip=(.venv/bin/python -m pip -q --disable-pip-version-check --no-input)
        # Build tools first: the editable install runs without build isolation so
        # that the extension is built by this venv and rebuilt in place below.
        quiet "${pip[@]}" install 'setuptools>=64' wheel 'cffi>=1.15'
        quiet "${pip[@]}" install --no-build-isolation --config-settings "editable_mode=$EDITABLE_MODE" -e '.[test]'
        echo "$want" >"$stamp"
        rm -f .venv/.pycontainer-build   # the editable install built it; re-stamp below
    fi

    # Rebuild the C core in place whenever csrc/ or the build script changed.
    # --force: distutils only compares .c mtimes and never sees header changes.
    local bstamp=.venv/.pycontainer-build
    want=$(src_hash)
    if [ "$(cat "$bstamp" 2>/dev/null)" != "$want" ] || ! extension_built; then
        say "building the C core (csrc/)"
        # Drop every earlier build first: a stale `_pyc.cpython-*.so` (say from
        # `python pycontainer/_core/build.py`) would shadow a new `_pyc.abi3.so`.
        rm -f pycontainer/_core/_pyc*.so
        quiet .venv/bin/python setup.py -q build_ext --inplace --force
        echo "$want" >"$bstamp"
    fi

    # The command is the C client (csrc/cli/client.c): no interpreter to start
    # when the warm process serves it, ~20 ms of every command. Where it
    # cannot, it execs the Python client that pip installed from bin/.
    if [ -x pycontainer/cli/pyc-client ]; then
        local s
        for s in pycontainer pyc; do
            ln -sfn "$PWD/pycontainer/cli/pyc-client" ".venv/bin/$s"
        done
    fi

    # Bytecode, as pip writes it at install time: an editable install writes
    # none, and with PYTHONDONTWRITEBYTECODE set every process (each CLI call,
    # each test's subprocess) would compile the package again (~0.2 s).
    # compileall rewrites only what changed.
    PYTHONDONTWRITEBYTECODE= quiet .venv/bin/python -m compileall -q -j 0 pycontainer
}

main() {
    [ $# -ge 1 ] || usage
    local cmd=$1
    shift
    case "$cmd" in
        demo | test) ;;
        -h | --help | help) usage ;;
        *) usage ;;
    esac
    [ "$cmd" = test ] || [ $# -eq 0 ] || usage

    if [ "$(id -u)" -ne 0 ]; then
        die "must be run as root (pycontainer creates namespaces, mounts and cgroups): sudo bash setup.sh $cmd"
    fi

    cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")"

    # shellcheck disable=SC2046
    install_packages $APT_PACKAGES $(python_packages)
    setup_python

    case "$cmd" in
        demo)
            exec .venv/bin/python -m pycontainer.demo
            ;;
        test)
            # Run the whole suite unless a test path (file, dir or node id) is given.
            local a paths=(tests)
            for a in "$@"; do
                case "$a" in -*) continue ;; esac
                if [ -e "${a%%::*}" ]; then
                    paths=()
                    break
                fi
            done
            # The import rules between the rooms (pyproject.toml, ARCHITECTURE.md).
            .venv/bin/lint-imports --no-cache >/dev/null || {
                .venv/bin/lint-imports --no-cache >&2
                die "import rules broken (see above)"
            }
            exec .venv/bin/python -m pytest -p no:cacheprovider "${paths[@]}" "$@"
            ;;
    esac
}

main "$@"
