"""docker's progress messages (pull, push, load) as a person reads them.

On a terminal: one line per layer, rewritten in place with a bar, as
docker draws it. Otherwise (a pipe, a file, a CI log): plain lines, each
status once per layer, no bar and no escape codes. ``quiet``: nothing but
what the verb prints at the end.
"""
import os
import sys

WIDTH = 50


def bar(current, total, width=WIDTH):
    """``[=====>     ]`` as docker draws it."""
    if not total:
        return ""
    done = min(int(width * current / total), width)
    arrow = ">" if done < width else ""
    return "[" + "=" * max(done - len(arrow), 0) + arrow + " " * (width - done) + "]"


def _detail(msg):
    from .output import human_size
    d = msg.get("progressDetail") or {}
    cur, total = d.get("current"), d.get("total")
    if cur is None:
        return msg.get("progress", "")
    if total:
        return f"{bar(cur, total)} {human_size(cur)}/{human_size(total)}"
    return human_size(cur)


class Progress:
    """Feed it docker's progress dicts; ``close()`` at the end."""

    def __init__(self, out=None, tty=None, quiet=False):
        self.out = out or sys.stdout
        self.tty = self.out.isatty() if tty is None else tty
        if os.environ.get("TERM") == "dumb":
            self.tty = False
        self.quiet = quiet
        self.lines = []           # ids in the order their lines were drawn (a terminal)
        self.last = {}            # id -> the status last shown

    def __call__(self, msg):
        if self.quiet:
            return
        if "error" in msg:
            return                # the verb raises it as one line
        if "stream" in msg:
            self.out.write(msg["stream"])
            self.out.flush()
            return
        lid, status = msg.get("id"), msg.get("status", "")
        if not lid:
            self._plain(status)
        elif self.tty:
            self._draw(lid, f"{lid}: {status} {_detail(msg)}".rstrip())
        elif self.last.get(lid) != status:
            self.last[lid] = status
            self._plain(f"{lid}: {status}")

    def _plain(self, text):
        self.out.write(text + "\n")
        self.out.flush()

    def _draw(self, lid, text):
        if lid not in self.lines:
            self.lines.append(lid)
            self.out.write(text + "\n")
        else:
            up = len(self.lines) - self.lines.index(lid)
            # up to its line, clear it, write, back down
            self.out.write(f"\x1b[{up}A\x1b[2K\r{text}\x1b[{up}B\r")
        self.out.flush()

    def close(self):
        self.out.flush()
