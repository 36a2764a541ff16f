"""One FFI: the cffi cdef comes from csrc/pyc.h, kernel constants come from the
C headers through it, and nothing else in the package binds C by hand."""
import os
import re
import subprocess
import sys

import pytest
from cffi import FFI

from pycontainer import _core
from pycontainer._core import build

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
PKG = os.path.join(ROOT, "pycontainer")


def _header():
    with open(build.HEADER) as f:
        return f.read()


def _section(text):
    start = text.index("*/", text.index(build.BEGIN)) + 2
    return text[start:text.index(build.END)]


def _sources():
    for d, _, files in os.walk(PKG):
        for name in files:
            if name.endswith(".py"):
                path = os.path.join(d, name)
                with open(path) as f:
                    yield os.path.relpath(path, ROOT), f.read()


def test_cdef_is_the_header_section():
    assert build.CDEF == build.cdef_from_header(_header())
    FFI().cdef(build.CDEF)          # cffi reads it as it is


def test_built_module_has_everything_the_header_exports():
    # A stale build (header changed, module not rebuilt) fails here.
    section = re.sub(r"/\*.*?\*/", " ", _section(_header()), flags=re.S)
    functions = re.findall(r"\b(pyc_\w+)\s*\(", section)
    macros = re.findall(r"#\s*define\s+(\w+)", section)
    structs = set(re.findall(r"struct\s+(pyc_\w+)\s*\{", section))
    assert len(functions) >= 13 and macros and structs
    for name in functions + macros:
        assert hasattr(_core.lib, name), name
    for name in structs:
        assert _core.ffi.sizeof(f"struct {name}") > 0


def test_defines_keep_literals_and_take_the_rest_from_the_compiler():
    text = ("#include <x.h>\n/* cffi: begin */\n#define A 0x10u  /* note */\n"
            "#define B SOME_LIBC_FLAG\nint f(int x); // why\n/* cffi: end */\n")
    assert build.cdef_from_header(text) == "#define A 0x10u\n#define B ...\nint f(int x);\n"


@pytest.mark.parametrize("text", [
    "int f(void);\n",                                               # no markers
    "/* cffi: begin */\nint f(void);\n",                            # no end
    "/* cffi: begin */\n#include <x.h>\nint f(void);\n/* cffi: end */\n",
    "/* cffi: begin */\n#ifdef X\nint f(void);\n#endif\n/* cffi: end */\n",
])
def test_unreadable_sections_fail_the_build(text):
    with pytest.raises(ValueError):
        build.cdef_from_header(text)


def test_namespace_and_mount_flags_come_from_the_kernel_headers():
    # The Linux ABI values (include/uapi/linux/sched.h, linux/mount.h).
    assert (_core.CLONE_NEWNS, _core.CLONE_NEWCGROUP, _core.CLONE_NEWUTS, _core.CLONE_NEWIPC,
            _core.CLONE_NEWUSER, _core.CLONE_NEWPID, _core.CLONE_NEWNET) == (
        0x20000, 0x2000000, 0x4000000, 0x8000000, 0x10000000, 0x20000000, 0x40000000)
    assert (_core.MS_BIND, _core.MS_REC, _core.MS_PRIVATE, _core.MS_REMOUNT) == (
        0x1000, 0x4000, 0x40000, 0x20)


def test_clone_flags_are_defined_only_in_the_core():
    assign = re.compile(r"^\s*(CLONE_\w+\s*,\s*)*CLONE_\w+\s*=", re.M)
    found = [path for path, text in _sources() if assign.search(text)]
    assert found == ["pycontainer/_core/__init__.py"]


def test_no_second_ffi_on_import():
    # ctypes only where a library is loaded at run time (libnftables), lazily.
    code = "import sys, pycontainer; print('ctypes' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=ROOT).stdout
    assert out.strip() == "False"
    users = [path for path, text in _sources() if re.search(r"^\s*import ctypes", text, re.M)]
    assert users == ["pycontainer/network/firewall.py"]


def test_no_errno_numbers():
    magic = re.compile(r"\berrno\s*(==|!=|in)\s*\(?\s*\d|\b\w*Error\(\s*\d+\s*,|strerror\(\s*"
                       r"(\w+\s+or\s+)?\d|\"errnoRet\":\s*\d")
    found = [f"{path}:{n}" for path, text in _sources()
             for n, line in enumerate(text.splitlines(), 1) if magic.search(line)]
    assert found == []


def test_release_hook_imports_the_core_in_a_bare_interpreter(tmp_path):
    # The monitor runs it with python -I -S (no site-packages): the C core
    # must still import, or a container's networking is never released.
    # It is a fixed script run with arguments; -X importtime lists what it imports.
    from pycontainer.network.manager import Networking
    store, run = tmp_path / "store", tmp_path / "run"
    run.mkdir()
    hook = Networking(str(store), str(run)).hook("0" * 64)
    assert hook[1:3] == ["-I", "-S"] and hook[3].endswith("pycontainer/network/release.py")
    assert hook[-3:] == [str(store), str(run), "0" * 64]
    r = subprocess.run(hook[:3] + ["-X", "importtime"] + hook[3:], capture_output=True,
                       text=True, cwd="/")
    lines = r.stderr.splitlines()
    assert r.returncode == 0 and all(x.startswith("import time:") for x in lines), r.stderr
    mods = {x.split("|")[-1].strip() for x in lines}
    assert "pycontainer._core._pyc" in mods
    assert not {m for m in mods if m.startswith("pycontainer.")
                and not m.startswith(("pycontainer.network", "pycontainer._core"))} - \
        {"pycontainer.errors", "pycontainer.jsonfile"}
