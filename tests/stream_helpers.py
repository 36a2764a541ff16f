"""Reading attach and exec streams in tests: until a marker, to the end, unframed."""

WAIT = 20          # seconds a read may block before the test fails (a hang, not a pace)


def read_until(sock, needle):
    """Read the stream until ``needle`` shows; everything read."""
    sock.settimeout(WAIT)
    buf = b""
    while needle not in buf:
        chunk = sock.recv(4096)
        assert chunk, f"the stream ended before {needle!r}: {buf!r}"
        buf += chunk
    return buf


def read_to_end(sock):
    sock.settimeout(WAIT)
    buf = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return buf
        buf += chunk


def unframe(data):
    """docker's multiplexed stream -> {1: stdout bytes, 2: stderr bytes}."""
    out = {1: b"", 2: b""}
    while data:
        assert len(data) >= 8 and data[1:4] == b"\0\0\0", data
        n = int.from_bytes(data[4:8], "big")
        out[data[0]] += data[8:8 + n]
        data = data[8 + n:]
    return out
