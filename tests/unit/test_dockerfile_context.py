"""The build context on a temporary directory: sources confined beneath it,
globs, .dockerignore, the walk; and the cache's never-wrong rule."""
import os

import pytest

from pycontainer.build.cache import Cache, digest
from pycontainer.build.context import Context, OutsideContext
from pycontainer.errors import NotFound
from pycontainer.image import ImageStore


def tree(root, files):
    for path, data in files.items():
        full = os.path.join(root, path)
        os.makedirs(os.path.dirname(full), exist_ok=True)
        if isinstance(data, tuple):
            os.symlink(data[1], full)
        else:
            with open(full, "w") as f:
                f.write(data)
    return str(root)


@pytest.fixture
def ctx(tmp_path):
    (tmp_path / "secret").write_text("outside\n")
    root = tree(tmp_path / "c", {
        "a.txt": "a", "b.txt": "b", "sub/c.txt": "c", "sub/deep/d.log": "d",
        "abs": ("link", "/etc/hostname"), "rel": ("link", "../secret"),
        "dirlink": ("link", "/etc"), "inside": ("link", "sub/c.txt"),
        "sub/up": ("link", "../a.txt"), ".dockerignore": "*.log\n**/*.log\n"})
    with Context(root) as c:
        yield c


@pytest.mark.parametrize("source", ["abs", "rel", "dirlink/passwd", "../secret",
                                    "sub/../../secret"])
def test_sources_outside_are_refused_before_reading(ctx, source):
    with pytest.raises(OutsideContext, match="outside the build context"):
        ctx.expand(source)
    with pytest.raises(OutsideContext):
        list(ctx.walk(source))


def test_links_inside_resolve_and_absolute_sources_are_context_relative(ctx):
    assert ctx.expand("inside") == ["inside"]
    assert ctx.read_file("inside") == b"c"
    assert ctx.expand("/a.txt") == ["a.txt"]
    with pytest.raises(NotFound):       # "/.." is "/": the context's root, as docker has it
        ctx.expand("/../secret")
    assert ctx.read_file("sub/up") == b"a"


def test_globs_and_ignored_files(ctx):
    assert ctx.expand("*.txt") == ["a.txt", "b.txt"]
    assert ctx.expand("s*/*.txt") == ["sub/c.txt"]
    with pytest.raises(NotFound, match="excluded by .dockerignore"):
        ctx.expand("sub/deep/d.log")
    with pytest.raises(NotFound, match="matches nothing"):
        ctx.expand("*.none")


def test_walk_skips_ignored_and_keeps_links_as_links(ctx):
    import stat
    got = {sub: stat.S_IFMT(st.st_mode) for sub, st, _, _ in ctx.walk("sub")}
    assert got == {"": stat.S_IFDIR, "c.txt": stat.S_IFREG, "deep": stat.S_IFDIR,
                   "up": stat.S_IFLNK}


def test_cache_entry_needs_its_layer(tmp_path):
    store = ImageStore(str(tmp_path / "store"), min_free_space=0)
    cache = Cache(store)
    key = digest("step", "x")
    cache.put(key, {"diff_id": "sha256:" + "0" * 64})
    assert cache.get(key) is None           # its layer is not stored: a miss
    assert cache.get(digest("other")) is None
    assert digest("a", {"b": 1}) == digest("a", {"b": 1}) != digest("a", {"b": 2})
