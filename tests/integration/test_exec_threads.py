"""Execs and attached starts from many threads while other threads come and go.

The exec child is cloned from a threaded caller and sets its ids before it
execs. glibc's setgroups/setres[ug]id act on "every thread" (they take the
stack-cache lock and wait for any thread still being created): in the
child's copy of the caller that wait never ends, and with CLONE_VM a child
killed inside leaves the caller's lock taken. The child sets ids by raw
syscalls (csrc/spawn.c); before that this test hung within a second or two.
"""
import threading
import time

import pytest

from stream_helpers import WAIT, read_to_end, unframe

SECONDS = 6


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
    with client.containers.run("busybox", ["sleep", "300"], detach=True) as c:
        stop = time.monotonic() + SECONDS
        errors, done = [], {}

        def exec_stdin():
            r = c.exec_run("cat", stdin=True, socket=True)
            with r.output as s:
                s.settimeout(WAIT)
                s.sendall(b"x\n")
                s.shutdown()
                assert unframe(read_to_end(s)) == {1: b"x\n", 2: b""}
            assert c.exec_run("true", tty=True).exit_code == 0

        def attached_start():
            assert client.containers.run("busybox", ["echo", "hi"], remove=True) == b"hi\n"

        def thread_churn():
            ts = [threading.Thread(target=bytearray, args=(200_000,)) for _ in range(4)]
            for t in ts:
                t.start()
            for t in ts:
                t.join()

        workers = [_loop(f"exec{i}", stop, errors, done, exec_stdin) for i in range(3)]
        workers += [_loop("start", stop, errors, done, attached_start)]
        workers += [_loop(f"churn{i}", stop, errors, done, thread_churn) for i in range(2)]
        for w in workers:
            w.start()
        for w in workers:
            w.join(timeout=max(stop - time.monotonic(), 0) + 30)
        hung = [w.name for w in workers if w.is_alive()]
        assert not hung, f"hung: {hung} (done so far: {done})"
        assert not errors, errors
        assert all(done.get(w.name) for w in workers), done
