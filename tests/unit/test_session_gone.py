"""``run -i --rm`` of a quick command: the container may have ended and been
removed before the attach; its output then comes from the log opened before
the start, and the command does not fail with "No such container"."""
from pycontainer.cli import session
from pycontainer.errors import ContainerNotFound


class Containers:
    def attach_socket(self, cid, **kw):
        raise ContainerNotFound(f"No such container: {cid}")


class Engine:
    containers = Containers()


def test_a_container_removed_before_the_attach_gives_its_logged_output(tmp_path):
    log = tmp_path / "container.log"
    log.write_bytes(b"2026-01-01T00:00:00.000000000Z stdout F first\n")
    with open(log, "rb") as f:
        sock, before = session.attach_bracketed(Engine(), "c" * 64, f, 0, True, None)
    assert sock is None and before == [(1, b"first\n")]
