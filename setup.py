"""Build script: metadata lives in pyproject.toml; this adds the C parts.

- `cffi_modules` compiles csrc/*.c into `pycontainer._core._pyc` through
  `pycontainer/_core/build.py` (API mode, built at install time).
- `build_ext` also links the per-container monitor, csrc/monitor/ plus the
  same core sources, into the executable `pycontainer/_core/pyc-monitor`.
"""
import glob
import os

from setuptools import find_packages, setup
from setuptools.command.build_ext import build_ext

MONITOR = "pyc-monitor"


class BuildWithMonitor(build_ext):
    def run(self):
        super().run()
        self.build_monitor()

    def build_monitor(self):
        # The monitor runs prepared plans: it needs no filter compiler (libseccomp).
        sources = sorted(glob.glob("csrc/monitor/*.c") +
                         [p for p in glob.glob("csrc/*.c") if not p.endswith("seccomp.c")])
        objects = self.compiler.compile(
            sources, output_dir=os.path.join(self.build_temp, "monitor"),
            extra_postargs=["-O2", "-Wall", "-Wextra", "-Wno-unused-parameter"])
        dest = "pycontainer/_core" if self.inplace else os.path.join(self.build_lib,
                                                                     "pycontainer/_core")
        os.makedirs(dest, exist_ok=True)
        self.compiler.link_executable(objects, MONITOR, output_dir=dest)


setup(
    packages=find_packages(include=["pycontainer*"]),
    cffi_modules=["pycontainer/_core/build.py:ffibuilder"],
    cmdclass={"build_ext": BuildWithMonitor},
    include_package_data=False,
    zip_safe=False,
)
