"""/etc/hosts and /etc/resolv.conf of networked containers.

Name resolution on user networks is done with hosts files kept current:
every running container on a user network lists, in its /etc/hosts, the
name, aliases and short id of every other running container it shares a
user network with. Each start, stop, connect and disconnect rewrites the
files of the containers concerned, in place (the file is bind-mounted into
the container, so its inode must stay), under one store-wide lock.

The default ``bridge`` network has no name resolution (as docker's).
resolv.conf lists the host's resolvers, minus loopback ones that cannot
work from another network namespace (docker's rule, and its fallback).
"""
import os

LOCAL = ("127.0.0.1\tlocalhost\n"
         "::1\tlocalhost ip6-localhost ip6-loopback\n"
         "fe00::0\tip6-localnet\n"
         "ff00::0\tip6-mcastprefix\n"
         "ff02::1\tip6-allnodes\n"
         "ff02::2\tip6-allrouters\n")
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")
_resolv_cache = {}


def hosts_text(hostname, own, peers):
    """``own``: ``[(ip, names)]`` of the container itself (first is the
    primary address, which also gets the hostname); ``peers``: ``[(ip, names)]``."""
    lines = [LOCAL]
    for i, (ip, names) in enumerate(own):
        words = ([hostname] if i == 0 and hostname else []) + [n for n in names if n != hostname]
        if words:
            lines.append(f"{ip}\t{' '.join(_uniq(words))}\n")
    for ip, names in sorted(peers, key=lambda p: p[0]):
        if names:
            lines.append(f"{ip}\t{' '.join(_uniq(names))}\n")
    return "".join(lines)


def _uniq(words):
    seen, out = set(), []
    for w in words:
        if w and w not in seen:
            seen.add(w)
            out.append(w)
    return out


def write_in_place(path, text):
    """Rewrite a file keeping its inode (it is bind-mounted into a container).
    Returns False when the file does not exist."""
    data = text.encode()
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return False
    try:
        os.pwrite(fd, data, 0)
        os.ftruncate(fd, len(data))
    finally:
        os.close(fd)
    return True


def resolv_conf(source="/etc/resolv.conf"):
    """The host's resolv.conf for a container in its own network namespace."""
    try:
        st = os.stat(source)
        key = (source, st.st_mtime_ns, st.st_size, st.st_ino)
    except OSError:
        key = (source, None)
    text = _resolv_cache.get(key)
    if text is not None:
        return text
    try:
        with open(source) as f:
            lines = f.read().splitlines()
    except OSError:
        lines = []
    out, servers = [], 0
    for line in lines:
        words = line.split()
        if not words or words[0].startswith(("#", ";")):
            continue
        if words[0] == "nameserver":
            if len(words) < 2 or words[1].startswith("127.") or words[1] in ("::1",) \
                    or ":" in words[1]:
                continue
            servers += 1
        out.append(" ".join(words))
    if not servers:
        out += [f"nameserver {s}" for s in FALLBACK_DNS]
    text = "\n".join(out) + "\n"
    _resolv_cache.clear()
    _resolv_cache[key] = text
    return text
