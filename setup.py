"""Build script: metadata lives in pyproject.toml; this adds the C parts.

- `cffi_modules` compiles csrc/*.c into `pycontainer._core._pyc` through
  `pycontainer/_core/build.py` (API mode, built at install time).
- `build_ext` also links the per-container monitor, csrc/monitor/ plus the
  same core sources, into the executable `pycontainer/_core/pyc-monitor`,
  and the OCI runtime's front end, csrc/oci/front.c, into
  `pycontainer/oci/pycontainer-runtime` (it execs this interpreter for the
  verbs it leaves to Python: the paths are fixed at build time), and
  csrc/init/ into the static `pycontainer/_core/pyc-init` (run(init=True)
  binds it into containers of any image, so it needs no libc there).
- csrc/dns/ into `pycontainer/_core/pyc-dns`, the embedded DNS server a
  container on user networks gets (its monitor starts it).
- csrc/cli/client.c into `pycontainer/cli/pyc-client`, the command's thin
  client in C (the interpreter's paths fixed at build time); setup.sh links
  the venv's `pycontainer` and `pyc` to it.
"""
import glob
import os
import re
import sys
import sysconfig

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

MONITOR = "pyc-monitor"
OCI_FRONT = "pycontainer-runtime"
INIT = "pyc-init"
CLI_CLIENT = "pyc-client"
DNS = "pyc-dns"


class BuildWithMonitor(build_ext):
    def run(self):
        super().run()
        self.build_monitor()
        self.build_oci_front()
        self.build_init()
        self.build_dns()
        self.build_cli_client()

    def _dest(self):
        dest = "pycontainer/_core" if self.inplace else os.path.join(self.build_lib,
                                                                     "pycontainer/_core")
        os.makedirs(dest, exist_ok=True)
        return dest

    def build_init(self):
        objects = self.compiler.compile(
            sorted(glob.glob("csrc/init/*.c")), output_dir=os.path.join(self.build_temp, "init"),
            extra_postargs=["-O2", "-Wall", "-Wextra"])
        self.compiler.link_executable(objects, INIT, output_dir=self._dest(),
                                      extra_postargs=["-static", "-s"])

    def build_dns(self):
        objects = self.compiler.compile(
            sorted(glob.glob("csrc/dns/*.c")), output_dir=os.path.join(self.build_temp, "dns"),
            extra_postargs=["-O2", "-Wall", "-Wextra"])
        self.compiler.link_executable(objects, DNS, output_dir=self._dest())

    def build_monitor(self):
        # The monitor runs prepared plans: it needs no filter compiler (libseccomp).
        sources = sorted(glob.glob("csrc/monitor/*.c") +
                         [p for p in glob.glob("csrc/*.c") if not p.endswith("seccomp.c")])
        objects = self.compiler.compile(
            sources, output_dir=os.path.join(self.build_temp, "monitor"),
            extra_postargs=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])
        self.compiler.link_executable(objects, MONITOR, output_dir=self._dest())

    def build_oci_front(self):
        paths = sorted({sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]})
        # create clones the init itself (the caller's child, as runc's), from a
        # plan the warm process made: the core's spawn, as the monitor has it
        core = [p for p in glob.glob("csrc/*.c") if not p.endswith("seccomp.c")]
        self._front(["csrc/oci/front.c", "csrc/oci/warm.c", "csrc/warm/client.c"] + sorted(core),
                    OCI_FRONT, "oci",
                    [("PYC_OCI_PYTHON", f'"{sys.executable}"'),
                     ("PYC_OCI_PATH", f'"{":".join(paths)}"')])

    def build_cli_client(self):
        # warm.py's socket_path() hashes these: the client must find the same socket
        self._front(["csrc/cli/client.c", "csrc/warm/client.c"], CLI_CLIENT, "cli",
                    [("PYC_CLI_PYTHON", f'"{sys.executable}"'),
                     ("PYC_CLI_EXE", f'"{os.path.realpath(sys.executable)}"'),
                     ("PYC_CLI_PREFIX", f'"{sys.prefix}"'),
                     ("PYC_CLI_VERSION", f'"{_version()}"')])

    def _front(self, sources, name, package, macros):
        """A C front end with this interpreter's paths built in, into pycontainer/<package>."""
        objects = self.compiler.compile(
            sources, output_dir=os.path.join(self.build_temp, package),
            macros=macros, extra_postargs=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])
        dest = f"pycontainer/{package}" if self.inplace else os.path.join(
            self.build_lib, "pycontainer", package)
        os.makedirs(dest, exist_ok=True)
        self.compiler.link_executable(objects, name, output_dir=dest)


def _version():
    """pycontainer/__init__.py's __version__, read without importing the package."""
    with open("pycontainer/__init__.py") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


setup(
    packages=find_packages(include=["pycontainer*"]),
    cffi_modules=["pycontainer/_core/build.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithMonitor},
    include_package_data=False,
    zip_safe=False,
)
