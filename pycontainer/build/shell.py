"""Docker's word lexer for Dockerfile arguments: quotes, the escape
character and variable substitution (``$VAR``, ``${VAR}``, ``${VAR:-word}``,
``${VAR-word}``, ``${VAR:+word}``, ``${VAR+word}``, ``${VAR:?message}``),
as moby's ``shell.Lex`` does it.

Single quotes keep everything literal; double quotes keep spaces and allow
substitution; the escape character (``\\`` or the ``escape=`` directive's)
makes the next character literal. Outside quotes, a substituted value is
split on white space like the rest of the text (``process_words``).
"""
import string

from ..errors import InvalidArgument

_NAME_START = set(string.ascii_letters + "_")
_NAME = _NAME_START | set(string.digits)


class SubstitutionError(InvalidArgument):
    """A malformed ``${...}`` or a ``${VAR:?message}`` whose VAR is unset;
    ``offset`` is where in the text it is."""

    def __init__(self, message, offset):
        super().__init__(message)
        self.offset = offset


class _Lexer:
    def __init__(self, text, env, escape, used, quotes=True):
        self.text, self.env, self.escape, self.used = text, env, escape, used
        self.quotes = "'\"" if quotes else ""
        self.pos = 0

    def peek(self):
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self):
        ch = self.peek()
        self.pos += 1
        return ch

    def words(self, split=True, stop=""):
        """The words of the text up to an unquoted ``stop`` character
        (consumed); ``split=False`` gives one word with spaces kept."""
        words, cur, seen = [], [], False
        while self.pos < len(self.text):
            ch = self.peek()
            if ch in stop and ch:
                self.pos += 1
                break
            if ch.isspace() and split:
                self.pos += 1
                if seen:
                    words.append("".join(cur))
                    cur, seen = [], False
                continue
            seen = True
            if ch == "'" and self.quotes:
                cur.append(self.single())
            elif ch == '"' and self.quotes:
                cur.append(self.double())
            elif ch == self.escape and not self.quotes:
                # variables only: the escape keeps a $ literal, nothing else
                self.pos += 1
                if self.peek() == "$":
                    cur.append(self.next())
                else:
                    cur.append(ch)
            elif ch == self.escape:
                self.pos += 1
                if self.pos < len(self.text):
                    cur.append(self.next())
                else:
                    cur.append(ch)
            elif ch == "$":
                value = self.dollar()
                if split:     # unquoted: the value splits like the text around it
                    parts = value.split()
                    if parts and value[:1].isspace() and cur:
                        words.append("".join(cur))
                        cur = []
                    for part in parts[:-1]:
                        cur.append(part)
                        words.append("".join(cur))
                        cur = []
                    if parts:
                        cur.append(parts[-1])
                        if value[-1:].isspace():
                            words.append("".join(cur))
                            cur, seen = [], False
                else:
                    cur.append(value)
            else:
                cur.append(self.next())
        if seen:
            words.append("".join(cur))
        return words

    def single(self):
        start = self.pos
        self.pos += 1
        end = self.text.find("'", self.pos)
        if end < 0:
            raise SubstitutionError("unexpected end of text: missing closing '", start)
        self.pos = end + 1
        return self.text[start + 1:end]

    def double(self):
        start = self.pos
        self.pos += 1
        out = []
        while True:
            if self.pos >= len(self.text):
                raise SubstitutionError('unexpected end of text: missing closing "', start)
            ch = self.next()
            if ch == '"':
                return "".join(out)
            if ch == "$":
                self.pos -= 1
                out.append(self.dollar())
            elif ch == self.escape and self.peek() in ('"', "$", self.escape):
                out.append(self.next())
            else:
                out.append(ch)

    def name(self):
        start = self.pos
        if self.peek() in _NAME_START and self.peek():
            while self.peek() and self.peek() in _NAME:
                self.pos += 1
        return self.text[start:self.pos]

    def lookup(self, name):
        self.used.add(name)
        return self.env.get(name)

    def dollar(self):
        start = self.pos
        self.pos += 1                       # the $
        if self.peek() != "{":
            name = self.name()
            if not name:
                return "$"
            value = self.lookup(name)
            return value or ""
        self.pos += 1
        name = self.name()
        if not name:
            raise SubstitutionError(f"bad substitution at {self.text[start:]!r}", start)
        ch = self.next()
        if ch == "}":
            return self.lookup(name) or ""
        colon = ch == ":"
        if colon:
            ch = self.next()
        if ch not in ("-", "+", "?"):
            raise SubstitutionError(f"unsupported modifier {ch!r} in ${{{name}...}}", start)
        word = "".join(self.words(split=False, stop="}"))
        if self.text[self.pos - 1:self.pos] != "}":
            raise SubstitutionError(f"missing '}}' in ${{{name}...}}", start)
        value = self.lookup(name)
        is_set = value is not None and (value != "" or not colon)
        if ch == "-":
            return value if is_set else word
        if ch == "+":
            return word if is_set else ""
        if not is_set:
            raise SubstitutionError(f"{name}: {word or 'is not set'}", start)
        return value


def process_words(text, env, escape="\\", used=None):
    """Substitute and split ``text`` into words, quotes removed.

    >>> process_words('a "b c" ${X:-d}', {})
    ['a', 'b c', 'd']
    """
    return _Lexer(text, env, escape, used if used is not None else set()).words()


def process_word(text, env, escape="\\", used=None):
    """Substitute ``text`` as one word (spaces kept, quotes removed).

    >>> process_word('"$A" b', {"A": "x"})
    'x b'
    """
    return "".join(_Lexer(text, env, escape, used if used is not None else set())
                   .words(split=False))


def expand(text, env, escape="\\", used=None):
    """Substitute variables only: quotes and white space stay as they are
    (a heredoc's body)."""
    return "".join(_Lexer(text, env, escape, used if used is not None else set(),
                          quotes=False).words(split=False))


def split_raw(text, escape="\\"):
    """Split on unquoted white space, keeping quotes and escapes (for
    ``key=value`` lists that are substituted pair by pair)."""
    words, cur, quote, i = [], [], None, 0
    while i < len(text):
        ch = text[i]
        if quote:
            cur.append(ch)
            if ch == escape and quote == '"' and i + 1 < len(text):
                cur.append(text[i + 1])
                i += 1
            elif ch == quote:
                quote = None
        elif ch == escape and i + 1 < len(text):
            cur.extend((ch, text[i + 1]))
            i += 1
        elif ch in "'\"":
            quote = ch
            cur.append(ch)
        elif ch.isspace():
            if cur:
                words.append("".join(cur))
                cur = []
        else:
            cur.append(ch)
        i += 1
    if quote:
        raise SubstitutionError(f"unexpected end of text: missing closing {quote}", len(text))
    if cur:
        words.append("".join(cur))
    return words
