"""cffi build script for the C core (API mode, compiled at install time).

The cdef is not a copy: it is the part of ``csrc/pyc.h`` between the
``cffi: begin`` and ``cffi: end`` comments, read at build time, so the Python
module and the C functions can never disagree.
"""
import glob
import os
import re

from cffi import FFI

HERE = os.path.dirname(os.path.abspath(__file__))
CSRC = os.path.normpath(os.path.join(HERE, "..", "..", "csrc"))
HEADER = os.path.join(CSRC, "pyc.h")

BEGIN, END = "cffi: begin", "/* cffi: end */"
_COMMENT = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_DEFINE = re.compile(r"#\s*define\s+(\w+)\s+(.*)")
_INT = re.compile(r"-?(0[xX][0-9a-fA-F]+|\d+)[uUlL]*")


def cdef_from_header(text):
    """The cdef for cffi from the text of ``pyc.h``.

    Comments go; a ``#define`` whose value is not an integer literal (a libc
    or kernel constant) becomes ``...``, so the compiler supplies it. Any
    other preprocessor line between the markers is an error: cffi would
    silently misread it.
    """
    start = text.find(BEGIN)
    start = text.find("*/", start) + 2 if start >= 0 else -1
    end = text.find(END, max(start, 0))
    if start < 2 or end < 0:
        raise ValueError(f"pyc.h: no {BEGIN!r} ... {END!r} section")
    lines = []
    for line in _COMMENT.sub(" ", text[start:end]).splitlines():
        line = line.rstrip()
        if line.lstrip().startswith("#"):
            m = _DEFINE.fullmatch(line.strip())
            if m is None:
                raise ValueError(f"pyc.h: cffi cannot read {line.strip()!r} in its section")
            name, value = m.group(1), m.group(2).strip()
            line = f"#define {name} {value if _INT.fullmatch(value) else '...'}"
        if line:
            lines.append(line)
    return "\n".join(lines) + "\n"


def read_cdef(path=HEADER):
    with open(path) as f:
        return cdef_from_header(f.read())


CDEF = read_cdef()

ffibuilder = FFI()
ffibuilder.cdef(CDEF)
ffibuilder.set_source(
    "pycontainer._core._pyc",
    '#include "pyc.h"',
    # setuptools wants paths relative to the project (the cwd of setup.py)
    sources=sorted(os.path.relpath(p) for p in glob.glob(os.path.join(CSRC, "*.c"))),
    depends=[os.path.relpath(p) for p in glob.glob(os.path.join(CSRC, "*.h"))],
    include_dirs=[CSRC],
    libraries=["seccomp"],
    extra_compile_args=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter", "-fvisibility=hidden"],
    # Bind every libc symbol at load: a clone child must never run the dynamic
    # linker's lazy resolution (spawn.c: the child of a threaded caller).
    extra_link_args=["-Wl,-z,now"],
)

if __name__ == "__main__":
    ffibuilder.compile(verbose=True)
