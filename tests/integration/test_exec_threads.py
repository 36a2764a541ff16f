"""Execs and attached starts from many threads while other threads come and go.

The exec child is cloned from a threaded caller and sets its ids before it
execs. glibc's setgroups/setres[ug]id act on "every thread" (they take the
stack-cache lock and wait for any thread still being created): in the
child's copy of the caller that wait never ends, and with CLONE_VM a child
killed inside leaves the caller's lock taken. The child sets ids by raw
syscalls (csrc/spawn.c); before that this test hung within seconds (the
copied child in setxid_mark_thread; with CLONE_VM, the caller's threads in
allocate_stack / __nptl_deallocate_stack on a lock left by a killed child).
"""
import threading
import time

import pytest

from pycontainer import errors as errors_mod
from stream_helpers import WAIT, read_to_end, unframe

SECONDS = 6


def wait_for(pred, stop):
    """Until ``pred()`` or the test's end (a state, polled)."""
    while not pred() and time.monotonic() < stop:
        time.sleep(0.01)


def _loop(name, stop, errors, done, step):
    def run():
        try:
            while time.monotonic() < stop:
                step()
                done[name] = done.get(name, 0) + 1
        except BaseException as err:     # noqa: BLE001 - reported by the test
            errors.append(f"{name}: {err!r}")
    return threading.Thread(target=run, name=name, daemon=True)


@pytest.mark.timeout(120)
def test_execs_and_starts_from_threads_while_threads_come_and_go(client, busybox):
    """Execs share our memory (CLONE_VM), or not into a memory-limited
    container; a third container is killed over and over while execs enter
    it (children killed mid-setup); attached starts and thread churn beside."""
    with client.containers.run("busybox", ["sleep", "300"], detach=True) as shared, \
            client.containers.run("busybox", ["sleep", "300"], detach=True,
                                  mem_limit="256m") as copied:
        stop = time.monotonic() + SECONDS
        errors, done, victim = [], {}, {}

        def exec_stdin(c):
            r = c.exec_run("cat", stdin=True, socket=True)
            with r.output as s:
                s.settimeout(WAIT)
                s.sendall(b"x\n")
                s.shutdown()
                assert unframe(read_to_end(s)) == {1: b"x\n", 2: b""}
            assert c.exec_run("true", tty=True).exit_code == 0

        def kill_one():      # once an exec went into it, with the next in flight
            v = client.containers.run("busybox", ["sleep", "300"], detach=True)
            victim["c"], n0 = v, done.get("doomed", 0)
            try:
                wait_for(lambda: done.get("doomed", 0) > n0, stop)
            finally:
                v.remove(force=True)

        def exec_doomed():
            v = victim.get("c")
            if v is None:
                return
            try:
                v.exec_run("true")
            except (errors_mod.Conflict, errors_mod.NotFound, OSError):
                # killed or gone meanwhile (what this part is about): the next one
                wait_for(lambda: victim.get("c") is not v, stop)

        def attached_start():
            assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"

        def thread_churn():
            ts = [threading.Thread(target=bytearray, args=(200_000,)) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()

        workers = [_loop(f"exec{i}", stop, errors, done,
                         lambda c=(shared, copied)[i % 2]: exec_stdin(c)) for i in range(4)]
        workers += [_loop("start", stop, errors, done, attached_start)]
        workers += [_loop("killer", stop, errors, done, kill_one)]
        workers += [_loop("doomed", stop, errors, done, exec_doomed)]
        workers += [_loop(f"churn{i}", stop, errors, done, thread_churn) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=max(stop - time.monotonic(), 0) + 30)
        hung = [w.name for w in workers if w.is_alive()]
        assert not hung, f"hung: {hung} (done so far: {done})"
        assert not errors, errors
        assert all(done.get(w.name) for w in workers), done
