"""One parse_bytes for every size keyword, with docker's units.RAMInBytes rules."""
import pytest

from pycontainer import types
from pycontainer.cgroups.resources import Resources
from pycontainer.engine import mounts
from pycontainer.errors import InvalidArgument
from pycontainer.types import Mount
from pycontainer.units import parse_bytes

K, M, G, T, P = 1 << 10, 1 << 20, 1 << 30, 1 << 40, 1 << 50


@pytest.mark.parametrize("given, want", [
    (0, 0), (4096, 4096), ("0", 0), ("123", 123), ("123b", 123), ("123B", 123),
    ("32k", 32 * K), ("32kb", 32 * K), ("32Kib", 32 * K), ("32KIB", 32 * K),
    ("32m", 32 * M), ("32MB", 32 * M), ("32mib", 32 * M),
    ("2g", 2 * G), ("2GiB", 2 * G), ("3t", 3 * T), ("4p", 4 * P), ("4PB", 4 * P),
    ("1.5g", 3 * G // 2), ("1.5G", 3 * G // 2), ("0.5k", 512), (".5k", 512), ("1.k", K),
    ("1.5", 1), ("0.9b", 0), ("2.0000001k", 2048),       # a fraction of a byte is dropped
    ("32 m", 32 * M), (" 64m ", 64 * M),
    ("9" * 30 + "p", int("9" * 30) * P),                 # exact: no float rounding
    ("1.000000000000000000000000000001p", P),
    ("9" * 400 + "t", int("9" * 400) * T),               # callers check their bounds
])
def test_docker_sizes(given, want):
    assert parse_bytes(given) == want


@pytest.mark.parametrize("given", [
    -1, "-1", "-1k", "1x", "k", "", " ", "1.5.5", "1e3", "inf", "nan", "0x10",
    "32kk", "32bb", "32kbb", "32ki", "32ibb", "32mbi", "1,5g", "1_000", "١٢",
    1.5, 2.0, True, False, None, b"64m", ["64m"],
])
def test_garbage_and_negatives_are_refused(given):
    with pytest.raises(InvalidArgument, match="^mem_limit: "):
        parse_bytes(given, "mem_limit")


def test_more_digits_than_int_takes():
    with pytest.raises(InvalidArgument, match="mem_limit: .* is too large"):
        parse_bytes("9" * 5000, "mem_limit")
    with pytest.raises(InvalidArgument, match="mem_limit must be within"):
        Resources.from_kwargs(mem_limit="9" * 400 + "t")


def test_one_function_everywhere():
    assert types.parse_bytes is parse_bytes
    assert mounts.parse_bytes is parse_bytes


def test_every_size_keyword_takes_the_same_forms():
    assert Resources.from_kwargs(mem_limit="1.5g").mem_limit == 3 * G // 2
    assert Resources.from_kwargs(mem_limit="64MiB", memswap_limit="1.5GB").memswap_limit == \
        3 * G // 2
    assert Mount("/t", None, type="tmpfs", tmpfs_size="1.5g")["TmpfsOptions"] == \
        {"SizeBytes": 3 * G // 2}
    (spec,) = mounts.parse(tmpfs={"/t": "size=1.5g"})
    assert spec["Options"] == f"size={3 * G // 2}"


@pytest.mark.parametrize("text, want", [
    ("size=64m", "size=64m"), ("size=64M,mode=1777", "size=64M,mode=1777"),  # as given
    ("size=50%", "size=50%"), ("size=0", "size=0"), ("size=4096", "size=4096"),
    ("size=1.5g", f"size={3 * G // 2}"), ("size=64MiB", f"size={64 * M}"),    # bytes
    ("size=2t", f"size={2 * T}"), ("size=10kb", f"size={10 * K}"), ("size=7b", "size=7"),
])
def test_tmpfs_sizes(text, want):
    (spec,) = mounts.parse(tmpfs={"/t": text})
    assert spec["Options"] == want


@pytest.mark.parametrize("text, words", [
    ("size=-1", "tmpfs '/t': tmpfs size: '-1' is not a size"),
    ("size=1.5%", "tmpfs size: '1.5%' is not a size"),
    ("size=lots", "tmpfs size: 'lots' is not a size"),
    ("size=8192p", "tmpfs size '8192p' is above the kernel's limit"),
    ("nr_inodes=1.5k", "invalid tmpfs nr_inodes '1.5k'"),     # the kernel reads this one
])
def test_tmpfs_sizes_refused(text, words):
    with pytest.raises(InvalidArgument, match=words.replace("%", ".")):
        mounts.parse(tmpfs={"/t": text})


@pytest.mark.parametrize("kw, words", [
    ({"mem_limit": -1}, "mem_limit: a size cannot be negative"),
    ({"mem_limit": "-64m"}, "mem_limit: '-64m' is not a size"),
    ({"mem_limit": "64m", "memswap_limit": "lots"}, "memswap_limit: 'lots' is not a size"),
    ({"mem_limit": 64.5}, "mem_limit: 64.5 is not a size"),
])
def test_resources_name_the_keyword(kw, words):
    with pytest.raises(InvalidArgument, match=words):
        Resources.from_kwargs(**kw)


def test_mount_tmpfs_size_names_the_keyword():
    with pytest.raises(InvalidArgument, match="tmpfs_size: a size cannot be negative, got -5"):
        Mount("/t", None, type="tmpfs", tmpfs_size=-5)
    with pytest.raises(InvalidArgument, match="tmpfs SizeBytes: 'x'"):
        mounts.parse(mounts=[{"Target": "/t", "Type": "tmpfs",
                              "TmpfsOptions": {"SizeBytes": "x"}}])
