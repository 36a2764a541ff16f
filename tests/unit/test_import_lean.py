"""`import pycontainer` and `Client()` load only what they use: the cost a
script pays before its first call (benchmarks/startup.py measures it)."""
import os
import subprocess
import sys

HEAVY = ("json", "re", "threading", "datetime", "contextlib", "subprocess", "signal",
         "functools", "pycontainer.runtime", "pycontainer.image", "pycontainer.engine.containers")


def _loaded_after(code):
    probe = f"import sys; {code}; print(chr(10).join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True,
                         check=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    return set(out.stdout.split())


def test_import_and_client_load_no_heavy_module(tmp_path):
    before = _loaded_after("pass")
    after = _loaded_after(f"import pycontainer; pycontainer.Client(root={str(tmp_path)!r})")
    assert "pycontainer.client" in after
    assert {m for m in HEAVY if m in after and m not in before} == set()

