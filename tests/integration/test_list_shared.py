"""The daemon's listing (``list(shared=True)``) reuses the records of
containers at rest while their files are unchanged, and sees every change:
a new container, a rename, a start, an exit, a removal."""
import time

from pycontainer.engine import state


def _rows(engine):
    return {r["Id"]: r for r in engine.containers.list(all=True, shared=True)}


def _settled_rows(engine):
    """A listing once the last write is older than a clock tick can hide."""
    time.sleep(state.SETTLE_NS / 1e9 + 0.02)
    return _rows(engine)


def test_a_shared_listing_reuses_records_at_rest_and_sees_every_change(fresh_client):
    fresh_client.images.busybox()
    engine = fresh_client._backend
    c = fresh_client.containers.create("busybox", ["sleep", "30"], network_mode="none",
                                       name="pyc-shared-a")
    try:
        assert _rows(engine)[c.id]["State"]["Status"] == "created"
        first = _settled_rows(engine)[c.id]
        assert _rows(engine)[c.id] is first                 # unchanged on disk: reused

        c.rename("pyc-shared-b")
        renamed = _rows(engine)[c.id]
        assert renamed is not first and renamed["Name"] == "/pyc-shared-b"

        c.start()
        running = _rows(engine)[c.id]
        assert running["State"]["Running"] and _rows(engine)[c.id] is not running

        c.kill()
        assert c.wait()["StatusCode"] == 137
        exited = _settled_rows(engine)[c.id]
        assert (exited["State"]["Status"], exited["State"]["ExitCode"]) == ("exited", 137)
        assert _rows(engine)[c.id] is exited
        # what a user gets is never the shared record
        assert fresh_client.containers.list(all=True)[0].attrs is not exited
    finally:
        c.remove(force=True)
    assert c.id not in _rows(engine) and c.id not in engine.containers.at_rest
