"""The Dockerfile parser: text -> stages of instructions, as BuildKit reads it.

What it follows (docs.docker.com "Dockerfile reference"):

* parser directives at the very top (``# escape=``, ``# syntax=``, which is
  read and ignored: there is one frontend here; ``# check=`` likewise);
* comments are whole lines starting with ``#`` (also between continued
  lines); empty lines between continued lines are skipped;
* a line ending with the escape character (``\\`` or `````) continues;
* heredocs (``<<EOF``, ``<<-EOF``, ``<<"EOF"``) after ``RUN``, ``COPY`` and
  ``ADD``: their lines follow the instruction;
* ``--flag[=value]`` options of ``FROM``, ``RUN``, ``COPY``, ``ADD`` and
  ``HEALTHCHECK``, checked against the flags each takes;
* ``ARG`` before the first ``FROM`` (global build args, visible to ``FROM``).

Nothing is substituted here (that needs the build's state: executor.py); a
bad line raises :class:`~pycontainer.errors.DockerfileError` naming the
file, line and column.
"""
import json
import re
from dataclasses import dataclass, field

from ..errors import DockerfileError

INSTRUCTIONS = ("ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM",
                "HEALTHCHECK", "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL",
                "USER", "VOLUME", "WORKDIR")
# flag -> True when it may be given more than once
FLAGS = {
    "FROM": {"platform": False},
    "RUN": {"mount": True, "network": False, "security": False},
    "COPY": {"from": False, "chown": False, "chmod": False, "link": False, "parents": False,
             "exclude": True},
    "ADD": {"chown": False, "chmod": False, "link": False, "checksum": False,
            "keep-git-dir": False, "exclude": True},
    "HEALTHCHECK": {"interval": False, "timeout": False, "start-period": False,
                    "start-interval": False, "retries": False},
}
BOOLEAN_FLAGS = {"link", "parents", "keep-git-dir"}
HEREDOC_INSTRUCTIONS = ("RUN", "COPY", "ADD")
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$")
_HEREDOC = re.compile(r"<<(-?)(['\"]?)([a-zA-Z_][a-zA-Z0-9_]*)\2")


@dataclass
class Heredoc:
    name: str
    content: str
    expand: bool          # False when the name was quoted: no substitution


@dataclass
class Instruction:
    """One instruction: ``keyword`` (upper case), ``flags`` (name -> list of
    raw values; None for a bare boolean flag), ``args`` (the raw text after
    the flags), ``json`` (the exec form's list, or None), where it is."""
    keyword: str
    args: str
    line: int
    column: int = 1
    flags: dict = field(default_factory=dict)
    json: list = None
    heredocs: list = field(default_factory=list)
    original: str = ""
    filename: str = "Dockerfile"
    args_column: int = 1

    def error(self, message, column=None):
        return DockerfileError(message, self.filename, self.line,
                               column if column is not None else self.column)

    def flag(self, name, default=None):
        """The last value of flag ``name`` (True for a bare boolean flag)."""
        values = self.flags.get(name)
        if not values:
            return default
        return True if values[-1] is None else values[-1]

    def __str__(self):
        return self.original


@dataclass
class Stage:
    index: int
    base: str                     # raw, substituted at build time
    name: str = None
    platform: str = None
    instructions: list = field(default_factory=list)
    line: int = 1
    source: Instruction = None    # the FROM


@dataclass
class Dockerfile:
    stages: list
    meta_args: list               # ARG instructions before the first FROM
    escape: str = "\\"
    directives: dict = field(default_factory=dict)
    filename: str = "Dockerfile"

    def stage(self, target):
        """The stage named (or numbered) ``target``; the last one for None."""
        if target is None:
            return self.stages[-1]
        for s in self.stages:
            if s.name is not None and s.name == target.lower():
                return s
        raise DockerfileError(f"target stage {target!r} could not be found",
                              self.filename, 0, 0)


def _directives(lines):
    """Leading ``# key=value`` lines -> (dict, index of the first other line)."""
    found = {}
    i = 0
    for i, line in enumerate(lines):
        m = _DIRECTIVE.match(line.strip())
        if not m:
            return found, i
        key = m.group(1).lower()
        if key in found:   # moby: a repeated directive is an error
            raise DockerfileError(f"only one {key} parser directive can be used",
                                  None, i + 1, 1)
        found[key] = m.group(2)
    return found, len(lines)


def _logical_lines(lines, start, escape, filename):
    """Yield (line number, column, text, next index) for each instruction,
    joining continued lines and skipping comments."""
    cont = re.compile(re.escape(escape) + r"[ \t]*$")
    i = start
    while i < len(lines):
        raw = lines[i]
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            i += 1
            continue
        first = i
        column = len(raw) - len(raw.lstrip()) + 1
        parts = []
        text = raw.lstrip()
        while True:
            m = cont.search(text)
            if not m:
                parts.append(text)
                i += 1
                break
            parts.append(text[:m.start()])
            i += 1
            # comments and empty lines inside a continuation are dropped
            while i < len(lines) and (not lines[i].strip() or
                                      lines[i].lstrip().startswith("#")):
                i += 1
            if i >= len(lines):
                break
            text = lines[i]
        yield first + 1, column, "".join(parts), i


def _parse_flags(keyword, rest, offset, line, filename):
    """``--name=value`` words at the start of ``rest`` -> (flags, rest, column)."""
    flags = {}
    allowed = FLAGS.get(keyword, {})
    pos = 0
    while True:
        while pos < len(rest) and rest[pos] in " \t":
            pos += 1
        if not rest.startswith("--", pos):
            break
        start, quote = pos, None
        while pos < len(rest) and (quote or rest[pos] not in " \t"):
            if quote and rest[pos] == quote:
                quote = None
            elif not quote and rest[pos] in "'\"":
                quote = rest[pos]
            pos += 1
        word = rest[start + 2:pos]
        name, eq, value = word.partition("=")
        column = offset + start
        if name not in allowed:
            hint = f"; {keyword} takes " + ", ".join("--" + f for f in allowed) if allowed \
                else f"; {keyword} takes no flags"
            raise DockerfileError(f"unknown flag: --{name}{hint}", filename, line, column)
        if not eq and name not in BOOLEAN_FLAGS:
            raise DockerfileError(f"flag --{name} needs a value (--{name}=...)",
                                  filename, line, column)
        if eq and name in BOOLEAN_FLAGS:
            if value.lower() not in ("true", "false"):
                raise DockerfileError(f"flag --{name} takes true or false, not {value!r}",
                                      filename, line, column)
            if value.lower() == "false":
                flags.pop(name, None)
                continue
            value = None
        if name in flags and not allowed[name]:
            raise DockerfileError(f"flag --{name} given twice", filename, line, column)
        flags.setdefault(name, []).append(value if eq else None)
    return flags, rest[pos:], offset + pos


def json_form(args):
    """The exec form's list of strings, or None for the shell form."""
    text = args.strip()
    if not text.startswith("["):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return value
    return None


def _heredocs(lines, i, args):
    """Read the bodies of the heredocs named in ``args`` from ``lines[i:]``."""
    docs = []
    for m in _HEREDOC.finditer(args):
        chomp, quote, name = m.group(1), m.group(2), m.group(3)
        body = []
        while i < len(lines):
            line = lines[i]
            i += 1
            test = line.lstrip("\t") if chomp else line
            if test == name:
                break
            body.append(test)
        else:
            return docs, i, name
        docs.append(Heredoc(name, "".join(b + "\n" for b in body), not quote))
    return docs, i, None


def parse_instruction(text, line=1, column=1, filename="Dockerfile", lines=None, next_i=0,
                      escape="\\"):
    """One logical line -> (Instruction, index of the next line)."""
    m = re.match(r"(\S+)(\s*)", text)
    word = m.group(1)
    keyword = word.upper()
    if keyword not in INSTRUCTIONS:
        raise DockerfileError(f"unknown instruction: {word}", filename, line, column)
    rest = text[m.end():]
    offset = column + m.end()
    flags = {}
    if keyword in FLAGS:
        flags, rest, offset = _parse_flags(keyword, rest, offset, line, filename)
    rest = rest.rstrip()
    if not rest.strip() and keyword not in ("ONBUILD",):
        raise DockerfileError(f"{keyword} requires at least one argument", filename, line,
                              column)
    inst = Instruction(keyword, rest, line, column, flags, original=text.strip(),
                       filename=filename, args_column=offset)
    if keyword in ("RUN", "CMD", "ENTRYPOINT", "SHELL", "VOLUME", "COPY", "ADD"):
        inst.json = json_form(rest)
    if keyword in HEREDOC_INSTRUCTIONS and inst.json is None and lines is not None:
        docs, next_i, missing = _heredocs(lines, next_i, rest)
        if missing:
            raise DockerfileError(f"heredoc <<{missing} has no closing line {missing!r}",
                                  filename, line, column)
        inst.heredocs = docs
    if keyword == "ONBUILD":
        if not rest.strip():
            raise DockerfileError("ONBUILD requires at least one argument", filename, line,
                                  column)
        inner = rest.split(None, 1)[0].upper()
        if inner in ("ONBUILD", "FROM", "MAINTAINER"):
            raise DockerfileError(f"{inner} isn't allowed as an ONBUILD trigger", filename,
                                  line, offset)
        parse_instruction(rest, line, offset, filename, escape=escape)   # checked now
    if keyword == "SHELL" and inst.json is None:
        raise DockerfileError("SHELL requires the arguments to be in JSON form",
                              filename, line, offset)
    return inst, next_i


def parse(text, filename="Dockerfile"):
    """Parse a Dockerfile.

    Args:
        text: the Dockerfile (str or bytes, UTF-8; a BOM is dropped).
        filename: for error messages.

    Returns:
        A :class:`Dockerfile`.

    Raises:
        DockerfileError: the first bad line (file, line, column in the message).

    >>> df = parse("FROM busybox AS base\\nRUN echo hi\\n")
    >>> df.stages[0].name, df.stages[0].instructions[0].keyword
    ('base', 'RUN')
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("utf-8")
        except UnicodeDecodeError as err:
            raise DockerfileError(f"not UTF-8 text: {err}", filename, 1, 1) from None
    text = text.lstrip("\ufeff")
    lines = text.replace("\r\n", "\n").split("\n")
    try:
        directives, start = _directives(lines)
    except DockerfileError as err:
        raise DockerfileError(err.reason, filename, err.line, err.column) from None
    escape = directives.get("escape", "\\")
    if escape not in ("\\", "`"):
        raise DockerfileError(f"invalid escape token {escape!r} does not match ` or \\",
                              filename, 1, 1)
    stages, meta = [], []
    i = start
    gen = None
    while True:
        gen = _logical_lines(lines, i, escape, filename)
        item = next(gen, None)
        if item is None:
            break
        line, column, joined, i = item
        inst, i = parse_instruction(joined, line, column, filename, lines, i, escape)
        if inst.keyword == "FROM":
            stages.append(_stage(inst, len(stages), stages))
        elif not stages:
            if inst.keyword != "ARG":
                raise DockerfileError(f"{inst.keyword} before the first FROM: only ARG may "
                                      "come first", filename, line, column)
            meta.append(inst)
        else:
            stages[-1].instructions.append(inst)
    if not stages:
        raise DockerfileError("the Dockerfile has no FROM instruction", filename,
                              max(len(lines), 1), 1)
    return Dockerfile(stages, meta, escape, directives, filename)


def _stage(inst, index, stages):
    words = inst.args.split()
    name = None
    if len(words) == 3 and words[1].upper() == "AS":
        name = words[2].lower()
        if not re.match(r"^[a-z][a-z0-9_.-]*$", name):
            raise inst.error(f"invalid name for build stage: {words[2]!r}, name can't start "
                             "with a number or contain symbols", inst.args_column)
        if any(s.name == name for s in stages):
            raise inst.error(f"duplicate stage name {name!r}", inst.args_column)
    elif len(words) != 1:
        raise inst.error("FROM requires either one argument, or three: FROM <source> "
                         "[AS <name>]", inst.args_column)
    return Stage(index, words[0], name, inst.flag("platform"), [], inst.line, inst)
