"""The Dockerfile parser, the word lexer and .dockerignore matching: no root
needed, no container."""
import pytest

from pycontainer.build.dockerfile import parse
from pycontainer.build.ignore import Matcher, read_patterns
from pycontainer.build.shell import (SubstitutionError, process_word, process_words,
                                     split_raw)
from pycontainer.errors import DockerfileError, InvalidArgument


def insts(text):
    return [(i.keyword, i.args) for s in parse(text).stages for i in s.instructions]


def test_stages_names_platform_and_meta_args():
    df = parse("ARG V=1\nFROM --platform=$BUILDPLATFORM busybox:$V AS Base\nRUN true\n"
               "FROM base\nFROM scratch AS last\n")
    assert [a.args for a in df.meta_args] == ["V=1"]
    assert [(s.base, s.name) for s in df.stages] == [("busybox:$V", "base"), ("base", None),
                                                     ("scratch", "last")]
    assert df.stages[0].platform == "$BUILDPLATFORM"
    assert df.stage("BASE") is df.stages[0] and df.stage(None) is df.stages[2]
    with pytest.raises(DockerfileError, match="target stage 'nope'"):
        df.stage("nope")


def test_continuations_comments_and_empty_lines():
    assert insts("FROM x\nRUN a \\\n  # note\n\n  b \\\n c\n") == [("RUN", "a   b  c")]


def test_escape_directive_and_syntax_directive_ignored():
    df = parse("# syntax=docker/dockerfile:1\n# escape=`\nFROM x\nRUN dir c:\\ `\n  /b\n")
    assert df.escape == "`" and df.directives["syntax"] == "docker/dockerfile:1"
    assert insts("# escape=`\nFROM x\nRUN a `\n b\n") == [("RUN", "a  b")]
    # a directive after a comment line is a comment
    assert parse("# hello\n# escape=`\nFROM x\n").escape == "\\"


def test_exec_and_shell_forms():
    df = parse('FROM x\nCMD ["a", "b c"]\nCMD a b\nENTRYPOINT [bad json\nSHELL ["/bin/bash", "-c"]\n')
    cmd1, cmd2, ep, sh = df.stages[0].instructions
    assert cmd1.json == ["a", "b c"] and cmd2.json is None and ep.json is None
    assert sh.json == ["/bin/bash", "-c"]
    with pytest.raises(DockerfileError, match="SHELL requires the arguments to be in JSON"):
        parse("FROM x\nSHELL /bin/bash -c\n")


def test_flags_and_their_errors_name_line_and_column():
    df = parse("FROM x\nCOPY --from=a --chown=1:2 --chmod=755 --link --exclude=*.o "
               "--exclude=*.a s d\nRUN --mount=type=cache,target=/c --mount=type=tmpfs,"
               "target=/t --network=none true\n")
    copy, run = df.stages[0].instructions
    assert copy.flags == {"from": ["a"], "chown": ["1:2"], "chmod": ["755"], "link": [None],
                          "exclude": ["*.o", "*.a"]}
    assert copy.flag("link") is True and copy.args == "s d"
    assert run.flags["mount"] == ["type=cache,target=/c", "type=tmpfs,target=/t"]
    with pytest.raises(DockerfileError) as err:
        parse("FROM x\n  COPY --bogus=1 a b\n")
    assert (err.value.line, err.value.column) == (2, 8)
    assert "Dockerfile:2:8: unknown flag: --bogus" in str(err.value)
    with pytest.raises(DockerfileError, match="--network given twice"):
        parse("FROM x\nRUN --network=none --network=host true\n")
    with pytest.raises(DockerfileError, match="needs a value"):
        parse("FROM x\nCOPY --from a b\n")


def test_bad_instructions_are_typed_errors_with_the_place():
    for text, where, what in [
            ("FROM x\nFOO bar\n", (2, 1), "unknown instruction: FOO"),
            ("RUN x\n", (1, 1), "RUN before the first FROM"),
            ("FROM x\nRUN\n", (2, 1), "RUN requires at least one argument"),
            ("FROM a b\n", (1, 6), "FROM requires either one argument"),
            ("FROM a AS 1x\n", (1, 6), "invalid name for build stage"),
            ("FROM a AS s\nFROM b AS s\n", (2, 6), "duplicate stage name"),
            ("FROM x\nONBUILD FROM y\n", (2, 9), "FROM isn't allowed as an ONBUILD trigger"),
            ("FROM x\nRUN <<EOF\necho\n", (2, 1), "heredoc <<EOF has no closing line"),
            ("# escape=x\nFROM a\n", (1, 1), "invalid escape token"),
            ("", (1, 1), "no FROM instruction")]:
        with pytest.raises(DockerfileError, match=what) as err:
            parse(text, "app.Dockerfile")
        assert (err.value.line, err.value.column) == where, text
        assert err.value.filename == "app.Dockerfile"
        assert isinstance(err.value, InvalidArgument)


def test_heredocs():
    df = parse('FROM x\nRUN <<EOF\necho "$A"\nEOF\nCOPY <<-"A" <<B /dst/\n\tone $X\n\tA\ntwo\n'
               'B\nRUN python3 <<PY\nprint(1)\nPY\n')
    run, copy, run2 = df.stages[0].instructions
    assert run.heredocs[0].content == 'echo "$A"\n' and run.heredocs[0].expand
    assert [(d.name, d.content, d.expand) for d in copy.heredocs] == [
        ("A", "one $X\n", False), ("B", "two\n", True)]
    assert run2.args == "python3 <<PY" and run2.heredocs[0].content == "print(1)\n"


def test_substitution_forms():
    env = {"A": "a", "E": "", "S": "x y"}
    assert process_word("${A}-$A-${B:-dflt}-${E:-empty}-${E-unset}-${A:+set}-${B:+no}", env) \
        == "a-a-dflt-empty--set-"
    assert process_word("'$A' \"$A\" \\$A", env) == "$A a $A"
    assert process_words("$S '$S' \"$S z\"", env) == ["x", "y", "$S", "x y z"]
    assert process_words("a${S}b", env) == ["ax", "yb"]
    assert process_word("${B-${A}}", env) == "a"
    with pytest.raises(SubstitutionError, match="B: must be set"):
        process_word("${B:?must be set}", env)
    with pytest.raises(SubstitutionError, match="missing closing"):
        process_word("'open", env)
    used = set()
    process_word("$A ${Q:-1}", env, used=used)
    assert used == {"A", "Q"}


def test_split_raw_keeps_quotes_for_pairs():
    assert split_raw('a="b c" d=e\\ f') == ['a="b c"', 'd=e\\ f']


@pytest.mark.parametrize("pattern,path,excluded", [
    ("*.log", "a.log", True), ("*.log", "d/a.log", False), ("**/*.log", "d/e/a.log", True),
    ("**", "anything/at/all", True), ("d", "d/e/f", True), ("/d/", "d", True),
    ("./d", "d/x", True), ("d/*/x", "d/e/x", True), ("d/*/x", "d/e/f/x", False),
    ("d/**/x", "d/x", True), ("?.txt", "a.txt", True), ("?.txt", "ab.txt", False),
    ("[ab].c", "b.c", True), ("[!ab].c", "b.c", False), ("\\*", "*", True)])
def test_dockerignore_patterns(pattern, path, excluded):
    assert Matcher(read_patterns(pattern)).excluded(path) is excluded


def test_dockerignore_reinclude_and_comments():
    m = Matcher(read_patterns("# comment\n\n*\n!keep/**\n!*.md\nkeep/no.md\n"))
    assert m.excluded("x.txt") and not m.excluded("a.md") and not m.excluded("keep/a/b")
    assert m.excluded("keep/no.md")
    assert m.may_reinclude_below("keep")
    assert not Matcher(read_patterns("build\n")).may_reinclude_below("build")
