"""Release a container's networking: the monitor's hook once the container is
done for good (``Runtime.start_monitored(hooks=...)``).

    python -I -S -c BOOT <package parent> <store root> <run root> <container id>

``BOOT`` (see manager._HOOK_BOOT) installs a stub ``pycontainer`` package so
that only this subpackage and the C core are imported (cffi's backend from its
own directory; nothing else from site-packages), ~10 ms.
Failures are left for the next Client's recovery (``Lifecycle.recover``).
"""
import sys


def main(argv):
    from .manager import Networking
    if len(argv) != 3:
        print("usage: release ROOT RUN_ROOT CONTAINER_ID", file=sys.stderr)
        return 2
    root, run_root, cid = argv
    Networking(root, run_root).release(cid)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
