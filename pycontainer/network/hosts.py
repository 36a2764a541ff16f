"""/etc/hosts and /etc/resolv.conf of networked containers.

Name resolution on user networks is done with hosts files kept current:
every running container on a user network lists, in its /etc/hosts, the
name, aliases and short id of every other running container it shares a
user network with. Each start, stop, connect and disconnect rewrites the
files of the containers concerned, in place (the file is bind-mounted into
the container, so its inode must stay), under one store-wide lock.

The default ``bridge`` network has no name resolution (as docker's), and
its resolv.conf lists the host's resolvers, minus loopback ones that cannot
work from another network namespace (docker's rule, and its fallback). On
user networks resolv.conf names the container's embedded DNS server
(:mod:`.dns`), which answers from the same hosts file.

:func:`refresh` rewrites the files of the containers on some networks from
the leases as they are now; :func:`write_own` is the default network's
case (no peers), :func:`copy_from` a ``container:`` mode's.
"""
import contextlib
import os

from .store import is_default

LOCAL = ("127.0.0.1\tlocalhost\n"
         "::1\tlocalhost ip6-localhost ip6-loopback\n"
         "fe00::0\tip6-localnet\n"
         "ff00::0\tip6-mcastprefix\n"
         "ff02::1\tip6-allnodes\n"
         "ff02::2\tip6-allrouters\n")
FALLBACK_DNS = ("8.8.8.8", "8.8.4.4")
EXTRA = "hosts.extra"      # a container's own lines (extra_hosts, links), kept across rewrites
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


def resolv_conf(source="/etc/resolv.conf", servers=(), search=(), options=()):
    """The host's resolv.conf for a container in its own network namespace;
    ``servers``, ``search``, ``options`` (run()'s ``dns``, ``dns_search``,
    ``dns_opt``) replace the host's lines of that kind, as docker does."""
    return with_dns(_host_resolv(source), servers, search, options)


def embedded_resolv_conf(source="/etc/resolv.conf", search=(), options=(),
                         server="127.0.0.11"):
    """resolv.conf on user networks: the embedded DNS server only (it
    forwards to the real ones), the host's or the given search and options,
    and ``ndots:0`` unless an ``ndots`` is given (docker's file)."""
    text = "".join(ln + "\n" for ln in _host_resolv(source).splitlines()
                   if ln.split() and ln.split()[0] != "nameserver")
    text = with_dns(text + f"nameserver {server}\n", (), search, options)
    words = [w for ln in text.splitlines() if ln.startswith("options") for w in ln.split()[1:]]
    if not any(w.startswith("ndots:") for w in words):
        text += "options ndots:0\n"
    return text


def with_dns(text, servers=(), search=(), options=()):
    """resolv.conf ``text`` with the given lines replacing its own of each kind."""
    if not (servers or search or options):
        return text
    lines = [ln for ln in text.splitlines() if ln.split()]
    for word, given in (("nameserver", servers), ("search", search), ("options", options)):
        if given:
            lines = [ln for ln in lines if ln.split()[0] != word]
    lines += ([f"search {' '.join(search)}"] if search else []) + \
        [f"nameserver {s}" for s in servers] + \
        ([f"options {' '.join(options)}"] if options else [])
    return "\n".join(lines) + "\n"


def extra_lines(extra_hosts=(), links=()):
    """/etc/hosts lines for run()'s ``extra_hosts`` ([name, ip]) and the
    legacy links ([ip, alias, name, id]) of a container."""
    out = [f"{ip}\t{name}\n" for name, ip in extra_hosts]
    out += [f"{ip}\t{' '.join(_uniq([alias, name, cid[:12]]))}\n" for ip, alias, name, cid in links]
    return "".join(out)


def _extra(files, cid):
    with contextlib.suppress(OSError):
        with open(files.path(cid, EXTRA)) as f:
            return f.read()
    return ""


def _host_resolv(source):
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


def refresh(store, files, nids, also=()):
    """Rewrite /etc/hosts of every container on the user networks ``nids``
    (and of ``also``), from the leases as they are now (``files``: the
    containers' :class:`.store.RunFiles`)."""
    with store.hosts_lock():
        recs = {r["Id"]: r for r in store.records()}
        leases = {nid: store.read_leases(nid) for nid in recs}
        user = [n for n in nids if n in recs and not is_default(recs[n])]
        members = set(also)
        for nid in user:
            members.update(leases.get(nid, {}))
        for cid in members:
            write_in_place(files.path(cid, "hosts"), _hosts_for(files, cid, recs, leases))


def _hosts_for(files, cid, recs, leases):
    own, peers = [], []
    hostname = None
    mine = sorted(((nid, eps[cid]) for nid, eps in leases.items() if cid in eps),
                  key=lambda x: x[1].get("Index", 0))
    for nid, ep in mine:
        user = not is_default(recs[nid])
        hostname = hostname or ep.get("Hostname")
        own.append((ep["IPAddress"], [ep["Name"]] + ep.get("Aliases", []) if user else []))
        if not user:
            continue
        links = {}          # a peer's name or id -> the aliases this container links it as
        for target, alias in ep.get("Links") or ():
            links.setdefault(target, []).append(alias)
        for other, oep in leases[nid].items():
            if other != cid:
                mine = links.get(oep["Name"], []) + links.get(other, [])
                peers.append((oep["IPAddress"], [oep["Name"]] + oep.get("Aliases", []) +
                              [other[:12]] + mine))
    if not own:      # no endpoint (left): the engine's file, hostname on 127.0.1.1
        with contextlib.suppress(OSError):
            with open(files.path(cid, "hostname")) as f:
                hostname = f.read().strip()
        own = [("127.0.1.1", [])]
    return hosts_text(hostname, own, peers) + _extra(files, cid)


def write_own(files, cid, hostname, endpoints):
    """/etc/hosts of a container on the default network only: its own
    addresses, no names to share, no peers to tell."""
    own = [(ep["IPAddress"], []) for ep in sorted(endpoints, key=lambda e: e["Index"])]
    write_in_place(files.path(cid, "hosts"),
                   hosts_text(hostname, own or [("127.0.1.1", [])], []) + _extra(files, cid))


def copy_from(files, target, cid):
    """``container:<target>`` mode: a copy of the target's hosts and resolv.conf."""
    for name in ("hosts", "resolv.conf"):
        with contextlib.suppress(OSError):
            with open(files.path(target, name)) as f:
                text = f.read()
            dest = files.path(cid, name)
            if not write_in_place(dest, text):
                with open(dest, "w") as f:
                    f.write(text)
