"""An attached tty session sends a new window size before the keys typed
after it, even when the SIGWINCH that tells it comes late (it reaches the
command through the warm client)."""
import os
import pty
import tty

from pycontainer.cli import session
from pycontainer.engine.attach import set_winsize


class Sock:
    tty = True

    def __init__(self):
        self.sent = []

    def resize(self, h, w):
        self.sent.append(("resize", h, w))

    def send(self, data):
        self.sent.append(("data", data))


def test_a_new_size_goes_before_the_keys_typed_after_it():
    master, slave = pty.openpty()
    saved = os.dup(0)
    s = None
    try:
        tty.setraw(slave)            # bytes as typed, as the session has it
        os.dup2(slave, 0)
        sock = Sock()
        s = session.Session(sock)
        set_winsize(slave, 33, 101)
        s._resize()                      # the session's start
        set_winsize(slave, 40, 120)      # no SIGWINCH here: not our terminal
        os.write(master, b"stty size\r")
        assert s._forward() is True
        os.write(master, b"again\r")
        assert s._forward() is True      # same size: not sent again
        assert sock.sent == [("resize", 33, 101), ("resize", 40, 120),
                             ("data", b"stty size\r"), ("data", b"again\r")]
    finally:
        os.dup2(saved, 0)
        fds = (saved, master, slave) + ((s._done_r, s._done_w) if s else ())
        for fd in fds:
            os.close(fd)
