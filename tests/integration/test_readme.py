"""Every example in README.md runs, so none of them can rot.

The ```python blocks run for real, in order, as one script (as a user pastes
them one after the other), on a fresh store (``$PYCONTAINER_ROOT`` on a tmpfs
of the test's), in a network namespace made for the test: the examples use the
default bridge network, make a network and publish a port, and none of that
may touch the machine's own network. Each block's output must match
``PYTHON``; afterwards the store must hold nothing the examples made (they
clean up after themselves) and no link of theirs may be left.

Each line of a ```sh block is one command: it runs (``RUN``, from the
checkout, and must succeed) or it is listed in ``SKIP`` with the reason.
A new block or a changed line fails :func:`test_every_block_is_classified`
until it is entered here.
"""
import json
import os
import re
import subprocess
import sys

import pytest

from pycontainer.network import netlink

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
README = os.path.join(ROOT, "README.md")
FENCE = re.compile(r"^```([\w-]*)\n(.*?)^```[ \t]*$", re.M | re.S)

# The output of each ```python block (a regex, matched in full), keyed by its first line.
PYTHON = {
    "from pycontainer import Client":
        r"b'hi\\n'\n",
    "import os, tarfile":
        r"\['mybox:latest'\] b'hi\\n'\n",
    'with client.containers.run("busybox", ["sh", "-c", "echo up; sleep 60"], detach=True,':
        r"running b'up\\n'\n0 b'[0-9a-f]{12}\\n'\nexited 137\n",
    'with client.containers.run("busybox", ["sh"], detach=True, tty=True, stdin_open=True) as c:':
        r"True 3\nb'\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x02x\\n' 0\n",
    "import time":
        r"healthy\n\['health_status: healthy', 'health_status: unhealthy'\]\n",
    "import os, tempfile":
        r"nobody\nA=1 in /tmp\ndebug = 1\ntmpfs +16\.0M +0 +16\.0M +0% /run\n\n",
    "with tempfile.TemporaryDirectory() as ctx:            # the context, read in place":
        r"2 True\nb'hello from a build\\n'\n",
    "import urllib.request":
        r"b'HTTP/1\.[01] 200 OK' b'hello from web\\n'\nb'hello from web\\n'\n",
    "import json, subprocess, tempfile, urllib.request":
        r"registry/2\.0 \{'repositories': \['library/busybox'\]\}\n",
    "import bcrypt, subprocess, tempfile, time, urllib.error, urllib.request":
        r"Login Succeeded\nb'pulled\\n'\nTrue\n",
    "import pycontainer.docker as docker          # was: import docker":
        r"0 b'hi\\n'\n404 ContainerNotFound True\n",
    "extra = dict(init=True,          # a small reaping init as pid 1 (docker run --init)":
        r"/sbin/pyc-init -- sh -c tr .*\nexample\.test\n192\.0\.2\.10\tdb\.test\n0 6 10\n"
        r"shm +8192 +0 +8192 +0% /dev/shm\n\n",
}

# Commands of the ```sh blocks that run in the suite, each with regexes its
# output must contain.
RUN = {
    "bash setup.sh demo": [r"\n== run: echo hi .*\nhi\n", r"oom_killed=True",
                           r"\n== 100 x run\(\['true'\], remove=True\): p50 "],
    # the command, on the default store (it makes busybox there when missing)
    ".venv/bin/pycontainer run --rm busybox echo hi": [r"^hi\n$"],
    ".venv/bin/pycontainer run --rm -e GREETING=hello -w /tmp busybox sh -c "
    "'echo $GREETING from $PWD'": [r"^hello from /tmp\n$"],
    "echo hello | .venv/bin/pycontainer run -i --rm busybox tr a-z A-Z": [r"^HELLO\n$"],
    "printf 'FROM busybox\\nRUN echo built > /b\\n' | .venv/bin/pycontainer build -q -t "
    "readme-built - && .venv/bin/pycontainer run --rm readme-built cat /b && "
    ".venv/bin/pycontainer rmi readme-built": [r"^sha256:[0-9a-f]{64}\nbuilt\nUntagged: "],
    "source <(.venv/bin/pycontainer completion bash)": [r"^$"],
    ".venv/bin/pycontainer images --format '{{.Repository}}:{{.Tag}} {{.Size}}'":
        [r"(^|\n)busybox:latest \d+(\.\d+)?MB\n"],
    ".venv/bin/pycontainer ps -a --format 'table {{.Names}}\\t{{.Status}}'": [r"^NAMES +STATUS\n"],
    # the OCI runtime: its version, then a bundle made, run and removed in one line
    "pycontainer/oci/pycontainer-runtime --version":
        [r"^pycontainer-runtime version \S+\ncommit: \S+\nspec: 1\.\d+\.\d+\n$"],
    "b=$(mktemp -d) && mkdir -p $b/rootfs/bin && cp /bin/busybox $b/rootfs/bin/ && "
    "ln -s busybox $b/rootfs/bin/sh && ln -s busybox $b/rootfs/bin/hostname && "
    "pycontainer/oci/pycontainer-runtime spec --bundle $b && "
    "sed -i 's/\"terminal\": true/\"terminal\": false/' $b/config.json && "
    "echo 'echo hi from $(hostname)' | pycontainer/oci/pycontainer-runtime run --bundle $b "
    "demo; rm -rf $b": [r"^hi from runc\n$"],
}
BENCHMARK = ("a benchmark: hundreds of timed runs against runc/podman baselines, minutes "
             "long and meaningful only on a quiet machine; run on its own")
DAEMON = ("the README's daemon block: tests/integration/test_api_docker_cli.py runs these "
          "lines against a daemon it starts on a socket of its own")
# Commands that are not run here, on purpose.
SKIP = {
    ".venv/bin/pycontainerd --host unix:///tmp/pyc.sock &": DAEMON,
    "docker -H unix:///tmp/pyc.sock run --rm busybox echo hi": DAEMON,
    "docker -H unix:///tmp/pyc.sock ps -a": DAEMON,
    "docker -H unix:///tmp/pyc.sock images": DAEMON,
    ".venv/bin/python -c 'import docker; print(docker.DockerClient(base_url=\"unix:///tmp/"
    "pyc.sock\").containers.run(\"busybox\", \"echo hi\", remove=True))'": DAEMON,
    "kill %1": DAEMON,
    ".venv/bin/pycontainer -H unix:///tmp/pyc.sock ps -a":
        "the README's daemon block: tests/integration/test_cli_daemon.py runs the command "
        "with -H against daemons it starts",
    ".venv/bin/pycontainer run -it --name box busybox sh":
        "needs a person at a terminal: tests/integration/test_cli_interactive.py types into "
        "run -it, detaches and attaches on a pty",
    ".venv/bin/pycontainer attach box": "the same session as the line before it",
    "bash setup.sh test": "runs this test suite, so it would run itself",
    "bash setup.sh test tests/unit -k cgroup -x":
        "runs pytest: from inside the suite it would nest a second test session",
    ".venv/bin/python benchmarks/startup.py": BENCHMARK,
    ".venv/bin/python benchmarks/lifecycle.py": BENCHMARK,
    ".venv/bin/python benchmarks/network.py": BENCHMARK,
    ".venv/bin/python benchmarks/unpack.py": BENCHMARK,
    ".venv/bin/python benchmarks/runtime.py": BENCHMARK,
}

# Runs the blocks in one namespace; writes [{line, stdout, error}] as JSON.
RUNNER = r"""
import contextlib, io, json, sys, traceback
readme, blocks, out = sys.argv[1], sys.argv[2], sys.argv[3]
with open(blocks) as f:
    blocks = json.load(f)
results, ns = [], {"__name__": "__main__"}
try:
    for line, code in blocks:
        res = {"line": line, "stdout": "", "error": None}
        results.append(res)
        buf = io.StringIO()
        try:
            with contextlib.redirect_stdout(buf):
                # README line numbers in tracebacks
                exec(compile("\n" * (line - 1) + code, readme, "exec"), ns)
        except BaseException:
            res["error"] = traceback.format_exc()
            break
        finally:
            res["stdout"] = buf.getvalue()
finally:
    with open(out, "w") as f:
        json.dump(results, f)
"""

# Reports what the examples left in the store and the namespace, then removes it.
LEFTOVERS = r"""
import json
from pycontainer import Client
from pycontainer.network import netlink
BUILTIN = {"bridge", "host", "none"}
client = Client()
cs = client.containers.list(all=True)
nets = [n for n in client.networks.list() if n.name not in BUILTIN]
vols = client.volumes.list()
imgs = [i for i in client.images.list() if i.tags != ["busybox:latest"]]
bridge = client._backend.net.get(client.networks.get("bridge").id)["Bridge"]
with netlink.local() as nl:
    links = sorted(set(nl.links()) - {"lo", bridge})
print(json.dumps({"containers": [c.name for c in cs], "networks": [n.name for n in nets],
                  "volumes": [v.name for v in vols], "images": [i.id for i in imgs],
                  "links": links}))
for c in cs:
    c.remove(force=True, v=True)
for n in nets:
    n.remove()
for v in vols:
    v.remove()
for i in imgs:
    client.images.remove(i.id, force=True)
"""


def readme_blocks():
    """``(language, first line of the code, code)`` for each fenced block."""
    with open(README) as f:
        text = f.read()
    for m in FENCE.finditer(text):
        yield m.group(1), text.count("\n", 0, m.start(2)) + 1, m.group(2)


def sh_commands():
    """``(line, command)`` for each line of the ```sh blocks, comments dropped."""
    for lang, first, code in readme_blocks():
        if lang == "sh":
            for i, text in enumerate(code.splitlines()):
                cmd = re.sub(r"(^|\s+)#\s.*$", "", text).strip()
                if cmd:
                    yield first + i, cmd


def test_every_block_is_classified():
    problems = []
    seen_py, seen_sh = set(), set()
    for lang, line, code in readme_blocks():
        if lang == "python":
            key = code.splitlines()[0]
            seen_py.add(key)
            if key not in PYTHON:
                problems.append(f"README.md:{line}: a python block starting {key!r} has no "
                                "expected output in PYTHON")
        elif lang != "sh":
            problems.append(f"README.md:{line}: a {lang or 'plain'} block: run it or list "
                            "it here")
    for line, cmd in sh_commands():
        seen_sh.add(cmd)
        if cmd not in RUN and cmd not in SKIP:
            problems.append(f"README.md:{line}: {cmd!r} is neither in RUN nor in SKIP")
    problems += [f"PYTHON names a block that README.md no longer has: {k!r}"
                 for k in PYTHON.keys() - seen_py]
    problems += [f"RUN/SKIP name a command that README.md no longer has: {k!r}"
                 for k in (RUN.keys() | SKIP.keys()) - seen_sh]
    assert not problems, "\n".join(problems)


@pytest.fixture
def example_dirs(tmp_path):
    """A tmpfs for the examples' store and run-time dirs (overlay takes its
    upper dirs there whatever the test's temporary directory is on), and
    an empty working directory."""
    top = tmp_path / "pyc"
    top.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "mode=0711", "pyc-readme", str(top)],
                   check=True, capture_output=True)
    try:
        work = tmp_path / "work"
        work.mkdir()
        yield {"store": str(top / "store"), "run": str(top / "run"), "cwd": str(work)}
    finally:
        r = subprocess.run(["umount", str(top)], capture_output=True, text=True)
        if r.returncode != 0:
            subprocess.run(["umount", "-l", str(top)], capture_output=True)
            pytest.fail(f"the examples' tmpfs was still busy: {r.stderr.strip()}")


@pytest.fixture
def netns_path():
    """A fresh network namespace with lo up, held only by an fd of this process."""
    nl, fd = netlink.new_netns_fd()
    try:
        nl.set_link(1, up=True)
    finally:
        nl.close()
    try:
        yield f"/proc/{os.getpid()}/fd/{fd}"
    finally:
        os.close(fd)


def test_python_examples_run_in_order(example_dirs, netns_path, tmp_path):
    blocks = [(line, code) for lang, line, code in readme_blocks() if lang == "python"]
    assert blocks, "README.md has no python examples"
    (tmp_path / "blocks.json").write_text(json.dumps(blocks))
    # As a user has it: the default network is the bridge (the suite sets none).
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYCONTAINER_")}
    env.update(PYCONTAINER_ROOT=example_dirs["store"], PYCONTAINER_RUN_ROOT=example_dirs["run"],
               PYTHONPATH=ROOT)

    def in_netns(*argv, timeout):
        return subprocess.run(["nsenter", f"--net={netns_path}", sys.executable, *argv],
                              cwd=example_dirs["cwd"], env=env, capture_output=True,
                              text=True, timeout=timeout)

    results_path = tmp_path / "results.json"
    try:
        # timeouts: within pytest-timeout's 300 s, so that the clean-up still runs
        r = in_netns("-c", RUNNER, README, str(tmp_path / "blocks.json"), str(results_path),
                     timeout=240)
        assert r.returncode == 0 and results_path.exists(), r.stderr
        results = json.loads(results_path.read_text())
        for res in results:
            assert res["error"] is None, \
                f"the example at README.md:{res['line']} failed:\n{res['error']}\n" \
                f"it printed:\n{res['stdout']}\nstderr:\n{r.stderr}"
        assert [res["line"] for res in results] == [line for line, _ in blocks]
        for (line, code), res in zip(blocks, results):
            want = PYTHON[code.splitlines()[0]]
            assert re.fullmatch(want, res["stdout"]), \
                f"the example at README.md:{line} printed:\n{res['stdout']}\nexpected (regex):\n{want}"
    finally:
        left = in_netns("-c", LEFTOVERS, timeout=50)
    assert left.returncode == 0, left.stderr
    assert json.loads(left.stdout) == {"containers": [], "networks": [], "volumes": [],
                                       "images": [], "links": []}, \
        "the examples left these behind (removed now)"
    assert os.listdir(os.path.join(example_dirs["store"], "containers")) == []


@pytest.fixture(scope="module")
def default_busybox():
    """The sh examples use the default store, as a reader would; the first
    one makes busybox there when missing. Make sure of it here so that each
    command also passes alone and on a machine that never ran one."""
    r = subprocess.run([sys.executable, "-c", "from pycontainer import Client; "
                        "Client().images.busybox()"], cwd=ROOT, capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr


@pytest.mark.parametrize("cmd", list(RUN))     # README order, as a reader runs them
def test_sh_example_runs(cmd, default_busybox):
    r = subprocess.run(["bash", "-c", cmd], cwd=ROOT, capture_output=True, text=True,
                       timeout=240)
    assert r.returncode == 0, f"{cmd!r} exited {r.returncode}:\n{r.stdout}\n{r.stderr}"
    for want in RUN[cmd]:
        assert re.search(want, r.stdout), f"{cmd!r} printed no {want!r}:\n{r.stdout}"
