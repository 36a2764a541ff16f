"""The daemon's attach waits for the container to run before it connects
stdin; a start between the refusal and the status it then reads must lead to
another try, not to stdin being dropped (``docker run -i`` then hangs)."""
import threading

from pycontainer.api.routes import containers as route
from pycontainer.errors import Conflict


class Verbs:
    """attach_socket() refused once ("not running"), and the start lands
    before inspect() looks: the status read is already "running"."""

    def __init__(self, statuses):
        self.statuses, self.tries = list(statuses), 0

    def attach_socket(self, cid, **kw):
        self.tries += 1
        if self.tries == 1:
            raise Conflict(f"container {cid[:12]} is not running")
        return "the socket"

    def inspect(self, cid):
        return {"State": {"Status": self.statuses.pop(0)}}


def test_a_start_between_the_refusal_and_the_status_is_tried_again():
    verbs = Verbs(["running"])
    assert route._stdin_socket(verbs, "c" * 64, None, threading.Event()) == "the socket"
    assert verbs.tries == 2


def test_a_container_that_ran_to_its_end_gets_none():
    verbs = Verbs(["exited"])
    assert route._stdin_socket(verbs, "c" * 64, None, threading.Event()) is None
