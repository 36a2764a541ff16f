""".dockerignore: Docker's pattern syntax (moby's patternmatcher).

One pattern a line; ``#`` starts a comment line; blank lines are skipped;
``!`` re-includes what an earlier pattern excluded; the last matching
pattern wins. Patterns are cleaned (``./a/`` is ``a``, a leading ``/`` is
dropped) and matched against paths relative to the context root: ``*`` and
``?`` stop at ``/``, ``**`` spans any number of directories, ``[...]`` is a
class and ``\\`` escapes. A pattern that matches a directory excludes what is
below it too (unless a later ``!`` pattern brings some of it back).
"""
import posixpath
import re


def read_patterns(text):
    """The patterns of a .dockerignore file's text, in order."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        exclusion = line.startswith("!")
        if exclusion:
            line = line[1:].strip()
            if not line:
                continue
        line = posixpath.normpath(line)
        if line.startswith("/") and len(line) > 1:
            line = line.lstrip("/")
        out.append((line, exclusion))
    return out


def _regex(pattern):
    out, i = ["^"], 0
    while i < len(pattern):
        ch = pattern[i]
        if ch == "*":
            if pattern[i + 1:i + 2] == "*":
                i += 1
                if pattern[i + 1:i + 2] == "/":
                    i += 1
                out.append(".*" if i + 1 >= len(pattern) else "(.*/)?")
            else:
                out.append("[^/]*")
        elif ch == "?":
            out.append("[^/]")
        elif ch == "[":
            end = pattern.find("]", i + 1)
            if end < 0:
                out.append(re.escape(ch))
            else:
                body = pattern[i + 1:end]
                if body.startswith("^") or body.startswith("!"):
                    body = "^" + body[1:]
                out.append("[" + body.replace("\\", "\\\\") + "]")
                i = end
        elif ch == "\\" and i + 1 < len(pattern):
            i += 1
            out.append(re.escape(pattern[i]))
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return re.compile("".join(out), re.S)


class Matcher:
    """``excluded(path)`` for paths relative to the context root.

    >>> m = Matcher(read_patterns("**/*.log\\n!keep.log\\n"))
    >>> m.excluded("a/b.log"), m.excluded("keep.log")
    (True, False)
    """

    def __init__(self, patterns):
        self.patterns = [(p, excl, _regex(p), p.count("/") + 1) for p, excl in patterns]
        self.has_exclusions = any(excl for _, excl, _, _ in self.patterns)

    def __bool__(self):
        return bool(self.patterns)

    def excluded(self, path):
        path = posixpath.normpath(path).lstrip("/")
        parts = path.split("/")
        matched = False
        for pattern, exclusion, regex, depth in self.patterns:
            if matched != exclusion:
                continue     # cannot change the answer
            hit = bool(regex.match(path))
            if not hit:
                # a pattern matching a parent directory matches what is below it
                for n in range(1, len(parts)):
                    if regex.match("/".join(parts[:n])):
                        hit = True
                        break
            if hit:
                matched = not exclusion
        return matched

    def may_reinclude_below(self, path):
        """Whether an ``!`` pattern could bring back something under the
        excluded directory ``path`` (else a walk may skip it)."""
        if not self.has_exclusions:
            return False
        prefix = path.rstrip("/") + "/"
        for pattern, exclusion, _, _ in self.patterns:
            if exclusion and (pattern.startswith(prefix) or "*" in pattern or "?" in pattern
                              or "[" in pattern):
                return True
        return False
