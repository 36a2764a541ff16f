"""A subset of Go's text/template, enough for docker's ``--format`` usage.

Supported: text and ``{{ }}`` actions with ``{{-``/``-}}`` trimming and
``{{/* comments */}}``; ``.``, ``.Field.Sub``, ``$``, ``$var.Field``,
``(pipeline).Field``; string, raw string, number, ``true``/``false``/``nil``
literals; pipelines with ``|``; ``$x := pipeline``; ``if``/``else if``/
``else``/``end``, ``range`` (``$i, $e :=``, ``else``), ``with``; methods of
the row contexts with arguments (``{{.Label "com.example"}}``); the functions
``json``, ``index``, ``len``, ``join``, ``split``, ``upper``, ``lower``,
``title``, ``truncate``, ``pad``, ``print``, ``printf``, ``println``, ``and``,
``or``, ``not``, ``eq``, ``ne``, ``lt``, ``le``, ``gt``, ``ge``.

Values print as Go's ``%v`` does (``map[a:1]``, ``[x y]``, ``<nil>``); a
missing map key prints ``<no value>``.

>>> Template("{{.Name}}: {{json .Labels}}").execute({"Name": "web", "Labels": {"a": "1"}})
'web: {"a":"1"}'
"""
import json
import re

from ..errors import InvalidArgument

_PLAIN = re.compile(r"\{\{\s*\.([A-Za-z]\w*)\s*\}\}")   # Template._fast


class TemplateError(InvalidArgument):
    """The format string does not parse or does not fit the data."""


class _Missing:
    def __repr__(self):
        return "<no value>"


MISSING = _Missing()

_TOKEN = re.compile(r"""
    (?P<ws>\s+)
  | (?P<str>"(?:[^"\\]|\\.)*")
  | (?P<raw>`[^`]*`)
  | (?P<num>-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?)
  | (?P<decl>:=)
  | (?P<assign>=)
  | (?P<field>(?:\.[A-Za-z_][A-Za-z0-9_]*)+|\.)
  | (?P<var>\$[A-Za-z0-9_]*)
  | (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
  | (?P<punct>[|(),])
""", re.X)
_FIELDS = re.compile(r"\.[A-Za-z_][A-Za-z0-9_]*")


def _lex(src):
    """Tokens of one action: (kind, text)."""
    pos, out = 0, []
    while pos < len(src):
        m = _TOKEN.match(src, pos)
        if not m:
            raise TemplateError(f"template: unexpected {src[pos:pos + 10]!r} in {{{{{src}}}}}")
        pos = m.end()
        kind = m.lastgroup
        if kind == "ws":
            continue
        text = m.group()
        # a field chain right after a term: ``$x.A`` or ``(...).A``
        if kind == "field" and out and out[-1][0] in ("var", "close") and text != ".":
            out.append(("chain", text))
            continue
        out.append((kind if kind != "punct" else {"|": "pipe", "(": "open", ")": "close",
                                                   ",": "comma"}[text], text))
    return out


def _split(text):
    """Text and actions, with trim markers applied: [("text", s) | ("action", s)]."""
    out, pos = [], 0
    while True:
        start = text.find("{{", pos)
        if start < 0:
            out.append(("text", text[pos:]))
            return out
        end = text.find("}}", start + 2)
        if end < 0:
            raise TemplateError("template: unclosed action (missing '}}')")
        inner = text[start + 2:end]
        chunk = text[pos:start]
        if inner.startswith("- ") or inner == "-":
            chunk = chunk.rstrip()
            inner = inner[1:]
        trim_after = inner.endswith(" -") or inner == "-"
        if trim_after:
            inner = inner[:-1]
        out.append(("text", chunk))
        inner = inner.strip()
        if not (inner.startswith("/*") and inner.endswith("*/")):
            out.append(("action", inner))
        pos = end + 2
        if trim_after:
            rest = text[pos:]
            pos += len(rest) - len(rest.lstrip())


# -- parse tree ---------------------------------------------------------------------

class _Parser:
    def __init__(self, items):
        self.items = items
        self.i = 0

    def nodes(self, stop=("end",)):
        """Nodes until one of the ``stop`` keywords; returns (nodes, keyword, tokens)."""
        out = []
        while self.i < len(self.items):
            kind, text = self.items[self.i]
            self.i += 1
            if kind == "text":
                if text:
                    out.append(("text", text))
                continue
            toks = _lex(text)
            if not toks:
                raise TemplateError("template: empty action {{}}")
            word = toks[0][1] if toks[0][0] == "ident" else None
            if word in ("end", "else"):
                if word not in stop:
                    raise TemplateError(f"template: unexpected {{{{{word}}}}}")
                return out, word, toks[1:]
            if word in ("if", "with", "range"):
                out.append(self.block(word, toks[1:]))
            elif word in ("define", "template", "block"):
                raise TemplateError(f"template: {{{{{word}}}}} is not supported")
            else:
                out.append(("action", _Pipe(toks)))
        if stop != ("eof",):
            raise TemplateError("template: missing {{end}}")
        return out, "eof", []

    def block(self, word, toks):
        if not toks:
            raise TemplateError(f"template: {{{{{word}}}}} needs a pipeline")
        pipe = _Pipe(toks, allow_two=(word == "range"))
        body, kw, rest = self.nodes(stop=("end", "else"))
        other = []
        if kw == "else":
            if rest and rest[0] == ("ident", "if") and word == "if":
                other = [self.block("if", rest[1:])]     # else if: nests; one {{end}}
            else:
                if rest:
                    raise TemplateError("template: unexpected tokens after {{else}}")
                other, kw, _ = self.nodes(stop=("end",))
        return (word, pipe, body, other)


class _Pipe:
    """``[$a[, $b] :=] command | command ...``; each command a list of operands."""

    def __init__(self, toks, allow_two=False):
        self.decl = []
        self.assign = False
        if len(toks) >= 2 and toks[0][0] == "var" and toks[1][0] in ("decl", "assign"):
            self.decl, self.assign, toks = [toks[0][1]], toks[1][0] == "assign", toks[2:]
        elif (allow_two and len(toks) >= 4 and toks[0][0] == "var" and toks[1][0] == "comma"
              and toks[2][0] == "var" and toks[3][0] == "decl"):
            self.decl, toks = [toks[0][1], toks[2][1]], toks[4:]
        self.cmds = []
        pos = 0
        cmd = []
        while pos < len(toks):
            kind, text = toks[pos]
            if kind == "pipe":
                if not cmd:
                    raise TemplateError("template: missing command before '|'")
                self.cmds.append(cmd)
                cmd = []
                pos += 1
                continue
            node, pos = _operand(toks, pos)
            cmd.append(node)
        if not cmd:
            raise TemplateError("template: missing command")
        self.cmds.append(cmd)


def _operand(toks, pos):
    kind, text = toks[pos]
    if kind == "open":
        depth, end = 1, pos + 1
        while end < len(toks) and depth:
            depth += {"open": 1, "close": -1}.get(toks[end][0], 0)
            end += 1
        if depth:
            raise TemplateError("template: unclosed '('")
        node = ("pipe", _Pipe(toks[pos + 1:end - 1]))
        pos = end
    elif kind == "field":
        node = ("field", None, _names(text))
        pos += 1
    elif kind == "var":
        node = ("var", text)
        pos += 1
    elif kind in ("str", "raw"):
        node = ("lit", _string(text))
        pos += 1
    elif kind == "num":
        node = ("lit", float(text) if any(c in text for c in ".eE") else int(text))
        pos += 1
    elif kind == "ident":
        lits = {"true": True, "false": False, "nil": None}
        node = ("lit", lits[text]) if text in lits else ("func", text)
        pos += 1
    else:
        raise TemplateError(f"template: unexpected {text!r}")
    if pos < len(toks) and toks[pos][0] == "chain":
        node = ("field", node, _names(toks[pos][1]))
        pos += 1
    return node, pos


def _names(text):
    return [m.group()[1:] for m in _FIELDS.finditer(text)]


def _string(text):
    if text.startswith("`"):
        return text[1:-1]
    try:
        return json.loads(text)
    except ValueError:
        raise TemplateError(f"template: bad string {text}") from None


# -- evaluation -----------------------------------------------------------------------

def truth(v):
    if v is MISSING or v is None:
        return False
    if isinstance(v, (bool, int, float, str, list, tuple, dict)):
        return bool(v)
    return True


def gostr(v):
    """Go's ``%v``."""
    if v is MISSING:
        return "<no value>"
    if v is None:
        return "<nil>"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return str(int(v)) if v.is_integer() and abs(v) < 1e21 else repr(v)
    if isinstance(v, (list, tuple)):
        return "[" + " ".join(gostr(x) for x in v) + "]"
    if isinstance(v, dict):
        return "map[" + " ".join(f"{k}:{gostr(v[k])}" for k in sorted(v)) + "]"
    return str(v)


def to_json(v):
    """docker's ``json`` function: compact, no HTML escaping."""
    def default(o):
        if o is MISSING:
            return None
        if hasattr(o, "as_dict"):
            return o.as_dict()
        raise TypeError(f"{type(o).__name__} is not JSON serialisable")
    return json.dumps(v, separators=(",", ":"), ensure_ascii=False, default=default)


def _field(value, name):
    if isinstance(value, dict):
        return value.get(name, MISSING)
    if value is None or value is MISSING or name.startswith("_"):
        return MISSING
    return getattr(value, name, MISSING)


def _index(v, *keys):
    for k in keys:
        try:
            v = v[k]
        except (KeyError, IndexError, TypeError):
            if isinstance(v, dict):
                return MISSING
            raise TemplateError(f"template: index of {gostr(k)} out of range") from None
    return v


def _printf(spec, *args):
    args = list(args)

    def one(m):
        flags, verb = m.group(1), m.group(2)
        if verb == "%":
            return "%"
        if not args:
            return f"%!{verb}(MISSING)"
        a = args.pop(0)
        if verb in "vs":
            return ("%" + flags + "s") % gostr(a)
        if verb == "q":
            return ("%" + flags + "s") % json.dumps(gostr(a), ensure_ascii=False)
        if verb == "t":
            return gostr(bool(a))
        try:
            return ("%" + flags + verb) % (int(a) if verb in "dxXo" else float(a))
        except (TypeError, ValueError):
            return f"%!{verb}({gostr(a)})"
    return re.sub(r"%([-+# 0]*\d*(?:\.\d+)?)([a-zA-Z%])", one, spec)


def _print(*args):
    out = ""
    for i, a in enumerate(args):
        if i and not isinstance(a, str) and not isinstance(args[i - 1], str):
            out += " "
        out += gostr(a)
    return out


def _cmp(op):
    def f(a, *bs):
        if op == "eq":
            return any(a == b for b in bs)
        b = bs[0]
        try:
            return {"ne": a != b, "lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]
        except TypeError:
            raise TemplateError(f"template: incompatible types for {op}") from None
    return f


def _truncate(s, n):
    s = gostr(s)
    return s[:int(n)] if len(s) > int(n) else s


FUNCS = {
    "json": to_json, "index": _index,
    "len": lambda v: len(v) if v is not MISSING and v is not None else 0,
    "join": lambda v, sep: sep.join(gostr(x) for x in (v or [])),
    "split": lambda s, sep: gostr(s).split(sep),
    "upper": lambda s: gostr(s).upper(), "lower": lambda s: gostr(s).lower(),
    "title": lambda s: gostr(s).title(),
    "truncate": _truncate,
    "pad": lambda s, left, right: " " * int(left) + gostr(s) + " " * int(right),
    "print": _print, "printf": _printf,
    "println": lambda *a: " ".join(gostr(x) for x in a) + "\n",
    "not": lambda v: not truth(v),
    "and": lambda *a: next((x for x in a if not truth(x)), a[-1]),
    "or": lambda *a: next((x for x in a if truth(x)), a[-1]),
    **{op: _cmp(op) for op in ("eq", "ne", "lt", "le", "gt", "ge")},
}


class Template:
    """A parsed template; :meth:`execute` renders it for one value."""

    def __init__(self, text):
        self.text = text
        self.nodes, _, _ = _Parser(_split(text)).nodes(stop=("eof",))
        parts = _PLAIN.split(text)
        self._plain = None if any("{{" in t or "}}" in t for t in parts[::2]) else parts

    def execute(self, dot):
        if self._plain is not None and not isinstance(dot, dict):
            text = self._fast(dot)
            if text is not None:
                return text
        out = []
        self._run(self.nodes, dot, {"$": dot}, out)
        return "".join(out)

    def _fast(self, dot):
        """Text and plain ``{{.Field}}``s over an object whose fields are
        strings (a listing's rows): no interpreter; None to take the slow way."""
        out = []
        for i, part in enumerate(self._plain):
            if i % 2:
                part = getattr(dot, part, None)
                if type(part) is not str:
                    return None
            out.append(part)
        return "".join(out)

    def _run(self, nodes, dot, scope, out):
        for node in nodes:
            kind = node[0]
            if kind == "text":
                out.append(node[1])
            elif kind == "action":
                v = self._pipe(node[1], dot, scope)
                if not node[1].decl:
                    out.append(gostr(v))
            elif kind == "if":
                _, pipe, body, other = node
                inner = dict(scope)
                self._run(body if truth(self._pipe(pipe, dot, inner)) else other, dot, inner,
                          out)
            elif kind == "with":
                _, pipe, body, other = node
                inner = dict(scope)
                v = self._pipe(pipe, dot, inner)
                if truth(v):
                    self._run(body, v, inner, out)
                else:
                    self._run(other, dot, inner, out)
            elif kind == "range":
                self._range(node, dot, scope, out)

    def _range(self, node, dot, scope, out):
        _, pipe, body, other = node
        decl, pipe.decl = pipe.decl, []          # the variables take each element
        try:
            v = self._pipe(pipe, dot, scope)
        finally:
            pipe.decl = decl
        if isinstance(v, dict):
            pairs = [(k, v[k]) for k in sorted(v)]
        elif isinstance(v, (list, tuple)):
            pairs = list(enumerate(v))
        elif v is None or v is MISSING:
            pairs = []
        elif isinstance(v, int) and not isinstance(v, bool):
            pairs = [(i, i) for i in range(v)]
        else:
            raise TemplateError(f"template: range can't iterate over {gostr(v)}")
        if not pairs:
            self._run(other, dot, dict(scope), out)
        for k, elem in pairs:
            inner = dict(scope)
            if len(decl) == 1:
                inner[decl[0]] = elem
            elif len(decl) == 2:
                inner[decl[0]], inner[decl[1]] = k, elem
            self._run(body, elem, inner, out)

    def _pipe(self, pipe, dot, scope):
        v, have = None, False
        for cmd in pipe.cmds:
            v = self._cmd(cmd, dot, scope, (v,) if have else ())
            have = True
        for name in pipe.decl:
            if pipe.assign and name not in scope:
                raise TemplateError(f"template: undefined variable {name}")
            scope[name] = v
        return v

    def _cmd(self, cmd, dot, scope, piped):
        head = cmd[0]
        if head[0] == "func":
            fn = FUNCS.get(head[1])
            if fn is None:
                raise TemplateError(f'template: function "{head[1]}" not defined')
            args = [self._value(a, dot, scope) for a in cmd[1:]] + list(piped)
            try:
                return fn(*args)
            except TypeError as err:
                raise TemplateError(f"template: wrong arguments for {head[1]}: {err}") from None
        if head[0] == "field" and (len(cmd) > 1 or piped):
            target = self._value(head, dot, scope, call=False)
            if callable(target):
                return target(*[self._value(a, dot, scope) for a in cmd[1:]], *piped)
        if len(cmd) > 1 or piped:
            raise TemplateError(f"template: can't give arguments to a non-function "
                                f"({self.text!r})")
        return self._value(head, dot, scope)

    def _value(self, node, dot, scope, call=True):
        kind = node[0]
        if kind == "lit":
            return node[1]
        if kind == "var":
            if node[1] not in scope:
                raise TemplateError(f"template: undefined variable {node[1]}")
            return scope[node[1]]
        if kind == "pipe":
            return self._pipe(node[1], dot, dict(scope))
        if kind == "func":
            fn = FUNCS.get(node[1])
            if fn is None:
                raise TemplateError(f'template: function "{node[1]}" not defined')
            return fn()
        # a field chain on dot or on a term
        v = dot if node[1] is None else self._value(node[1], dot, scope)
        names = node[2]
        for i, name in enumerate(names):
            v = _field(v, name)
            if callable(v) and (call or i < len(names) - 1):
                v = v()
        return v
