"""Starts the archive helper in a fresh interpreter (see archive.py):

    python -I -S <this file> <package parent dir> <cffi backend dir> <job spec JSON>

A fresh process, not a fork: the caller may be multi-threaded (a daemon, a
script with threads), and a forked child of such a process may deadlock on a
lock another thread held. The parent packages are stubs, so only the
helper's own modules load (no Client, no models).
"""
import sys
import types


def boot(argv):
    parent, backend, spec = argv
    sys.path[:0] = [backend]
    for name in ("pycontainer", "pycontainer.engine", "pycontainer.image"):
        module = types.ModuleType(name)
        module.__path__ = [parent + "/" + name.replace(".", "/")]
        sys.modules[name] = module
    from pycontainer.engine import archive_child
    archive_child.main([spec])


if __name__ == "__main__":
    boot(sys.argv[1:])
