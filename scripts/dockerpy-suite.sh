#!/bin/bash
# docker-py 7.1.0's own integration suite (tests/integration) against pycontainerd.
#
#   scripts/dockerpy-suite.sh DOCKER_PY_GIT_DIR [pytest args...]
#
# DOCKER_PY_GIT_DIR: a clone (or bare git dir) of docker/docker-py with tag 7.1.0.
# The daemon runs on a private socket over a private store. The images the
# suite names (alpine:3.10, alpine:latest, busybox:latest, hello-world:latest)
# are made from pycontainer's embedded busybox and pushed to a registry of our
# own on 127.0.0.1, the daemon's --registry-mirror. All of it runs in a network
# namespace of its own that has only loopback, so a pull of anything else (Hub
# content) fails at once and nothing leaves the machine.
# Prints the passed/failed totals (DAEMON_LOG=FILE keeps the daemon's log).
# Not part of the normal test suite: run it as root, alone on the machine (it
# starts containers).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
py=${PYTHON:-$here/.venv/bin/python}
git_dir=${1:?usage: $0 DOCKER_PY_GIT_DIR [pytest args]}
if [ -z "${PYC_DPY_NETNS:-}" ]; then
    # The suite imports paramiko (its ssh tests) even when no test uses it, and
    # websocket-client for attach over a websocket.
    "$py" -c "import paramiko, websocket" 2>/dev/null || "$py" -m pip install -q paramiko websocket-client
    # One test replaces os.environ (credentials/utils_test.py), after which
    # docker.from_env() finds no DOCKER_HOST and dials /var/run/docker.sock:
    # in a mount namespace of its own, that path is the daemon's socket too.
    if [ ! -e /run/docker.sock ]; then
        touch /run/docker.sock
        trap 'rm -f /run/docker.sock' EXIT
    fi
    set +e
    env PYC_DPY_NETNS=1 unshare --net --mount --propagation private --fork -- bash "$0" "$@"
    exit $?
fi
ip link set lo up
shift
tmp=$(mktemp -d /tmp/pyc-dockerpy.XXXXXX)
daemon_pid= registry_pid=
cleanup() {
    if [ -n "$daemon_pid" ] && ! kill -0 "$daemon_pid" 2>/dev/null; then
        echo "pycontainerd died during the suite; its log ends:"; tail -40 "$tmp/pycontainerd.log"
    fi
    cp "$tmp/pycontainerd.log" "${DAEMON_LOG:-/dev/null}" 2>/dev/null || true
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
    if [ -n "$registry_pid" ]; then kill -TERM "$registry_pid" 2>/dev/null || true; wait "$registry_pid" 2>/dev/null || true; fi
    rm -rf "$tmp"
}
trap cleanup EXIT
git --git-dir="$git_dir" archive 7.1.0 tests | tar -x -C "$tmp"
mirror=127.0.0.1:5000
"$here/.venv/bin/pycontainer" registry serve --addr "$mirror" --root "$tmp/mirror" \
    >"$tmp/registry.log" 2>&1 &
registry_pid=$!
"$py" - "$tmp/store" "$tmp/seed" "$mirror" <<'PY'
import sys, time, urllib.request
from pycontainer import Client
store, seed, mirror = sys.argv[1:]
for _ in range(200):
    try:
        urllib.request.urlopen(f"http://{mirror}/v2/")
        break
    except OSError:
        time.sleep(0.05)
names = (("alpine", "3.10"), ("alpine", "latest"), ("busybox", "latest"), ("hello-world", "latest"))
s = Client(root=seed)
box = s.images.busybox()


def derived(script):
    # distinct images, as the real ones are: alpine has a postgres user and a
    # /var/opt, hello-world is not busybox
    ctr = s.containers.run(box.id, ["sh", "-c", script], detach=True, network_mode="none")
    try:
        assert ctr.wait()["StatusCode"] == 0
        return ctr.commit()
    finally:
        ctr.remove(force=True)


alpine = derived("echo postgres:x:70:70::/var/lib/postgresql:/bin/sh >> /etc/passwd && "
                 "echo postgres:x:70: >> /etc/group && mkdir -p /var/opt")
images = {"alpine": alpine, "busybox": box, "hello-world": derived("echo hello > /hello")}
for repo, tag in names:
    images[repo].tag(f"{mirror}/library/{repo}", tag)
    s.images.push(f"{mirror}/library/{repo}", tag)
c = Client(root=store)
for repo, tag in names[:3]:
    c.images.pull(f"{mirror}/library/{repo}", tag).tag(repo, tag)
    c.images.remove(f"{mirror}/library/{repo}:{tag}")
PY
rm -rf "$tmp/seed"
"$here/.venv/bin/pycontainerd" --host "unix://$tmp/pyc.sock" --root "$tmp/store" \
    --registry-mirror "http://$mirror" >"$tmp/pycontainerd.log" 2>&1 &
daemon_pid=$!
for _ in $(seq 200); do
    [ -S "$tmp/pyc.sock" ] && break
    sleep 0.05
done
mount --bind "$tmp/pyc.sock" /run/docker.sock
cd "$tmp"
set +e
DOCKER_HOST="unix://$tmp/pyc.sock" "$py" -m pytest -p no:cacheprovider -q -rfE \
    --timeout 60 tests/integration "$@" | tee "$tmp/result.txt"
set -e
echo "totals: $(tail -1 "$tmp/result.txt")"
