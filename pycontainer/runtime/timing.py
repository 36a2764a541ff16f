"""Per-phase timestamps for benchmarks; free when nobody records.

>>> from pycontainer.runtime import timing
>>> timing.RECORDER = []      # then run a container; RECORDER holds (phase, time)
"""
import time

RECORDER = None


def mark(phase):
    """Record that ``phase`` ended now (only while a recorder is set)."""
    if RECORDER is not None:
        RECORDER.append((phase, time.perf_counter()))
