"""The monitor's hook that releases a container's networking once the
container is done for good (:meth:`.recovery.Recovery.hook` builds it)::

    python -I -S <this file> <cffi backend dir> <store root> <run root> <container id>

A fixed script, run by a bare interpreter (no site, no environment): it
imports only ``pycontainer.network`` and the C core. A stub parent package
keeps ``pycontainer/__init__`` (the whole SDK) out, and cffi's backend is
found in its own directory, nothing else from site-packages. Failures are
left for the next Client's recovery (``Lifecycle.recover``).
"""
import os
import sys


def main(argv):
    if len(argv) != 4:
        print("usage: release.py BACKEND_DIR ROOT RUN_ROOT CONTAINER_ID", file=sys.stderr)
        return 2
    backend, root, run_root, cid = argv
    if "pycontainer" not in sys.modules:       # run as a script: a stub parent package
        pkg = type(sys)("pycontainer")
        pkg.__path__ = [os.path.dirname(os.path.dirname(os.path.abspath(__file__)))]
        sys.modules["pycontainer"] = pkg
        sys.path.append(backend)
    # absolute: run as a script, this file has no package
    from pycontainer.network.recovery import Recovery
    from pycontainer.network.store import NetworkStore, RunFiles
    Recovery(NetworkStore(root), RunFiles(run_root)).release(cid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
