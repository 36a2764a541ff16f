"""Sizes as docker reads them (``units.RAMInBytes``): one parser for every keyword.

``mem_limit``, ``memswap_limit``, ``Mount(tmpfs_size=...)`` and ``tmpfs``
``size=`` all take the same forms, so a size that works in one works in all.
"""
import re

from .errors import InvalidArgument

# b, k, m, g, t, p (powers of 1024), optionally followed by "b" or "ib": 1.5g, 64MiB, 10kb.
_SIZE = re.compile(r"(\d+\.?\d*|\.\d+)\s*(?:([kmgtp])(?:i?b)?|b)?", re.ASCII | re.IGNORECASE)
_UNITS = {None: 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40, "p": 1 << 50}


def parse_bytes(value, what="size"):
    """``"1.5g"`` -> 1610612736: bytes, as docker's ``RAMInBytes`` reads them.

    Args:
        value: an int (bytes) or a string: a number, decimals allowed, then
            an optional unit ``b``, ``k``, ``m``, ``g``, ``t`` or ``p``
            (powers of 1024, any case, ``kb`` and ``KiB`` alike). A fraction
            of a byte is dropped.
        what: the keyword, named in the error.

    Returns:
        The size in bytes, an int >= 0 (callers check their own bounds).

    Raises:
        InvalidArgument: negative, not a number (a float, a bool), or a
            string of another form; the message names ``what``.

    Example:
        >>> parse_bytes("64m"), parse_bytes("1.5g"), parse_bytes("10KiB"), parse_bytes(4096)
        (67108864, 1610612736, 10240, 4096)
    """
    if isinstance(value, int) and not isinstance(value, bool):
        if value < 0:
            raise InvalidArgument(f"{what}: a size cannot be negative, got {value}")
        return value
    if isinstance(value, str):
        m = _SIZE.fullmatch(value.strip())
        if m:
            whole, _, fraction = m.group(1).partition(".")
            unit = _UNITS[m.group(2).lower() if m.group(2) else None]
            try:   # integers, not floats: exact, and a long number cannot become inf
                return (int(whole or "0") * unit
                        + int(fraction or "0") * unit // 10 ** len(fraction))
            except ValueError:   # more digits than int() takes
                raise InvalidArgument(f"{what}: {value[:40]!r}... is too large") from None
    raise InvalidArgument(f"{what}: {value!r} is not a size (e.g. 64m, 1.5g, 1048576)")
