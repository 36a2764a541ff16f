#!/bin/bash
# docker-py 7.1.0's own integration suite (tests/integration) against pycontainerd.
#
#   scripts/dockerpy-suite.sh DOCKER_PY_GIT_DIR [pytest args...]
#
# DOCKER_PY_GIT_DIR: a clone (or bare git dir) of docker/docker-py with tag 7.1.0.
# The daemon runs on a private socket over a private store; the images the
# suite names (alpine:3.10, alpine:latest, busybox:latest) are made from
# pycontainer's embedded busybox, so nothing is fetched from Docker Hub.
# Prints the passed/failed totals. Not part of the normal test suite: run it
# as root, alone on the machine (it starts containers).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
git_dir=${1:?usage: $0 DOCKER_PY_GIT_DIR [pytest args]}
shift
tmp=$(mktemp -d /tmp/pyc-dockerpy.XXXXXX)
daemon_pid=
cleanup() {
    if [ -n "$daemon_pid" ]; then kill -TERM "$daemon_pid" 2>/dev/null || true; wait "$daemon_pid" 2>/dev/null || true; fi
    "$py" - "$tmp/store" <<'PY' || true
import sys, contextlib
from pycontainer import Client, errors
c = Client(root=sys.argv[1])
for x in c.containers.list(all=True):
    with contextlib.suppress(errors.NotFound):
        x.remove(force=True, v=True)
for n in c.networks.list():
    if n.name not in ("bridge", "host", "none"):
        with contextlib.suppress(errors.PyContainerError):
            n.remove()
PY
    rm -rf "$tmp"
}
trap cleanup EXIT
git --git-dir="$git_dir" archive 7.1.0 tests | tar -x -C "$tmp"
"$py" - "$tmp/store" <<'PY'
import sys
from pycontainer import Client
c = Client(root=sys.argv[1])
img = c.images.busybox()
for repo, tag in (("alpine", "3.10"), ("alpine", "latest"), ("busybox", "latest")):
    img.tag(repo, tag)
PY
"$here/.venv/bin/pycontainerd" --host "unix://$tmp/pyc.sock" --root "$tmp/store" \
    >"$tmp/pycontainerd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
    [ -S "$tmp/pyc.sock" ] && break
    sleep 0.05
done
cd "$tmp"
set +e
DOCKER_HOST="unix://$tmp/pyc.sock" "$py" -m pytest -p no:cacheprovider -q -rfE \
    --timeout 60 tests/integration "$@" | tee "$tmp/result.txt"
set -e
echo "totals: $(tail -1 "$tmp/result.txt")"
