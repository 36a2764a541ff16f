"""Firewall rules, all in one nftables table: ``ip pycontainer``.

Nothing outside that table is touched. Per-network pieces are chains named
after the network and map elements keyed by its bridge; published ports are
elements of two maps. Adding or removing a network or a port is an element
or chain change, never a rule edit by handle, so removal needs no state::

    table ip pycontainer {
      set bridges   { type ifname }                 # every bridge of ours
      map from_br       { type ifname : verdict }       # iifname -> jump net-<id>
      map to_br    { type ifname : verdict }       # oifname -> jump in-<id> (internal)
      map masq      { type ipv4_addr : verdict; flags interval }   # saddr -> jump masq-<id>
      map pub_any   { type inet_proto . inet_service : ipv4_addr . inet_service }
      map pub_ip    { type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service }
      chain forward     (filter, forward):  iifname vmap @from_br; oifname vmap @to_br
      chain prerouting  (nat, prerouting):  fib daddr type local jump ports
      chain output      (nat, output):      fib daddr type local jump ports
      chain ports:       dnat to (daddr . proto . dport) map @pub_ip, then (proto . dport) @pub_any
      chain postrouting (nat, postrouting): 127.0.0.0/8 into a bridge: masquerade; saddr vmap @masq
      chain net-<id>:    to its own bridge accept; to another of our bridges drop; internal: drop
      chain in-<id>:     (internal networks) drop
      chain masq-<id>:   to its own bridge return; else masquerade
    }

The table exists while something of ours is in it: the last network or port
removed deletes it, so a host without our containers has nothing of ours.
Changes take a host-wide lock (one file in /run), since stores share the table
and the delete must not meet another process's add.

Commands go through libnftables (in process, the calling thread's network
namespace); the ``nft`` program is the fallback when the library is missing.
"""
import contextlib
import errno
import os
import threading

from ..errors import HostError
from .store import flock

TABLE = "ip pycontainer"
NFT_PROGRAMS = ("/usr/sbin/nft", "/sbin/nft", "/usr/bin/nft")
LOCK = "/run/pyc-firewall.lock"

_BASE = f"""
add table {TABLE}
add set {TABLE} bridges {{ type ifname; }}
add map {TABLE} from_br {{ type ifname : verdict; }}
add map {TABLE} to_br {{ type ifname : verdict; }}
add map {TABLE} masq {{ type ipv4_addr : verdict; flags interval; }}
add map {TABLE} pub_any {{ type inet_proto . inet_service : ipv4_addr . inet_service; }}
add map {TABLE} pub_ip {{ type ipv4_addr . inet_proto . inet_service : ipv4_addr . inet_service; }}
add chain {TABLE} forward {{ type filter hook forward priority 0; policy accept; }}
add chain {TABLE} prerouting {{ type nat hook prerouting priority -100; policy accept; }}
add chain {TABLE} output {{ type nat hook output priority -100; policy accept; }}
add chain {TABLE} postrouting {{ type nat hook postrouting priority 100; policy accept; }}
add chain {TABLE} ports
flush chain {TABLE} forward
flush chain {TABLE} prerouting
flush chain {TABLE} output
flush chain {TABLE} postrouting
flush chain {TABLE} ports
add rule {TABLE} forward iifname vmap @from_br
add rule {TABLE} forward oifname vmap @to_br
add rule {TABLE} prerouting fib daddr type local jump ports
add rule {TABLE} output fib daddr type local jump ports
add rule {TABLE} ports dnat ip to ip daddr . meta l4proto . th dport map @pub_ip
add rule {TABLE} ports dnat ip to meta l4proto . th dport map @pub_any
add rule {TABLE} postrouting oifname @bridges ip saddr 127.0.0.0/8 masquerade
add rule {TABLE} postrouting ip saddr vmap @masq
"""


class FirewallError(HostError):
    """nftables refused a batch (the message is nft's), or is missing."""


class _Lib:
    """libnftables through ctypes: one context per batch (its netlink socket
    belongs to the calling thread's network namespace)."""

    def __init__(self):
        import ctypes      # here: the release hook rarely needs nftables
        try:
            lib = ctypes.CDLL("libnftables.so.1")
        except OSError:
            from ctypes import util
            lib = ctypes.CDLL(util.find_library("nftables") or "libnftables.so.1")
        self.lib = lib
        lib.nft_ctx_new.restype = ctypes.c_void_p
        lib.nft_ctx_new.argtypes = [ctypes.c_uint32]
        lib.nft_ctx_free.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_output.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_buffer_error.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_output_buffer.restype = ctypes.c_char_p
        lib.nft_ctx_get_error_buffer.argtypes = [ctypes.c_void_p]
        lib.nft_ctx_get_error_buffer.restype = ctypes.c_char_p
        lib.nft_run_cmd_from_buffer.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.nft_run_cmd_from_buffer.restype = ctypes.c_int

    def run(self, text):
        lib = self.lib
        ctx = lib.nft_ctx_new(0)
        if not ctx:
            raise FirewallError(errno.ENOMEM, "nft: cannot allocate a context")
        try:
            lib.nft_ctx_buffer_output(ctx)
            lib.nft_ctx_buffer_error(ctx)
            rc = lib.nft_run_cmd_from_buffer(ctx, text.encode())
            out = (lib.nft_ctx_get_output_buffer(ctx) or b"").decode(errors="replace")
            err = (lib.nft_ctx_get_error_buffer(ctx) or b"").decode(errors="replace")
        finally:
            lib.nft_ctx_free(ctx)
        return rc, out, err


_lib = None
_lib_lock = threading.Lock()


def _backend():
    global _lib
    if _lib is None:
        with _lib_lock:
            if _lib is None:
                try:
                    _lib = _Lib()
                except OSError:
                    _lib = False
    return _lib


def nft(text, check=True):
    """Run an nft batch (atomic: all of it or nothing). Returns its output."""
    lib = _backend()
    if lib:
        rc, out, err = lib.run(text)
    else:
        import subprocess
        prog = next((p for p in NFT_PROGRAMS if os.path.exists(p)), None)
        if prog is None:
            raise FirewallError(errno.ENOENT, "nftables is not installed (libnftables or nft)")
        r = subprocess.run([prog, "-f", "-"], input=text.encode(), capture_output=True,
                           env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin"})
        rc, out, err = r.returncode, r.stdout.decode(errors="replace"), \
            r.stderr.decode(errors="replace")
    if rc != 0 and check:
        raise FirewallError(errno.EINVAL, f"nftables: {err.strip() or 'failed'}")
    return out if rc == 0 else None


def _q(name):
    return '"' + name.replace('"', "") + '"'


_thread_lock = threading.Lock()


@contextlib.contextmanager
def _locked():
    """Host-wide (flock) and in-process: one table change at a time."""
    with _thread_lock, flock(LOCK):
        yield


def ensure_base():
    with _locked():
        nft(_BASE)


def has_table():
    return nft(f"list table {TABLE}", check=False) is not None


def _drop_table_if_unused():
    """Delete the table when no bridge and no port of ours is left; the lock is held."""
    for kind, name in (("set", "bridges"), ("map", "pub_any"), ("map", "pub_ip")):
        out = nft(f"list {kind} {TABLE} {name}", check=False)
        if out is None or "elements" in out:
            return
    nft(f"delete table {TABLE}", check=False)


def add_network(key, bridge, subnet, internal, masquerade=True):
    """Chains and elements of one network (``key``: a short id); idempotent."""
    net, inn, masq = f"net-{key}", f"in-{key}", f"masq-{key}"
    b = _q(bridge)
    lines = [f"add chain {TABLE} {net}", f"flush chain {TABLE} {net}",
             f"add rule {TABLE} {net} oifname {b} accept",
             f"add rule {TABLE} {net} oifname @bridges drop"]
    if internal:
        lines += [f"add rule {TABLE} {net} drop",
                  f"add chain {TABLE} {inn}", f"flush chain {TABLE} {inn}",
                  f"add rule {TABLE} {inn} drop"]
    lines += [f"add element {TABLE} bridges {{ {b} }}",
              f"add element {TABLE} from_br {{ {b} : jump {net} }}"]
    if internal:
        lines.append(f"add element {TABLE} to_br {{ {b} : jump {inn} }}")
    elif masquerade:
        lines += [f"add chain {TABLE} {masq}", f"flush chain {TABLE} {masq}",
                  f"add rule {TABLE} {masq} oifname {b} return",
                  f"add rule {TABLE} {masq} masquerade",
                  f"add element {TABLE} masq {{ {subnet} : jump {masq} }}"]
    with _locked():
        nft(_BASE)      # its own batch: nft resolves the new table's objects only after it
        for kind, k in (("from_br", b), ("to_br", b), ("masq", subnet)):
            nft(f"delete element {TABLE} {kind} {{ {k} }}", check=False)   # a stale one
        nft("\n".join(lines) + "\n")


def remove_network(key, bridge, subnet):
    """Drop what :func:`add_network` made; missing pieces are skipped."""
    b = _q(bridge)
    with _locked():
        if not has_table():
            return
        for cmd in (f"delete element {TABLE} from_br {{ {b} }}",
                    f"delete element {TABLE} to_br {{ {b} }}",
                    f"delete element {TABLE} masq {{ {subnet} }}",
                    f"delete element {TABLE} bridges {{ {b} }}"):
            nft(cmd, check=False)
        for chain in (f"net-{key}", f"in-{key}", f"masq-{key}"):
            nft(f"flush chain {TABLE} {chain}\ndelete chain {TABLE} {chain}", check=False)
        _drop_table_if_unused()


def _port_key(m):
    proto = m["Proto"]
    if m["HostIp"] in ("", "0.0.0.0"):
        return "pub_any", f"{proto} . {m['HostPort']}"
    return "pub_ip", f"{m['HostIp']} . {proto} . {m['HostPort']}"


def add_ports(mappings, target_ip):
    """DNAT each ``{"Proto", "HostIp", "HostPort", "ContainerPort"}`` to
    ``target_ip`` (one atomic batch: all or none)."""
    if not mappings:
        return
    lines = []
    for m in mappings:
        kind, key = _port_key(m)
        lines.append(f"add element {TABLE} {kind} {{ {key} : {target_ip} . {m['ContainerPort']} }}")
    with _locked():
        if not has_table():
            nft(_BASE)
        nft("\n".join(lines) + "\n")


def remove_ports(mappings):
    """Delete the DNAT elements of ``mappings``; missing ones are skipped."""
    if not mappings:
        return
    lines = []
    for m in mappings:
        kind, key = _port_key(m)
        lines.append(f"delete element {TABLE} {kind} {{ {key} }}")
    with _locked():
        if not has_table():
            return
        if nft("\n".join(lines) + "\n", check=False) is None:   # one was gone: one by one
            for line in lines:
                nft(line, check=False)
        _drop_table_if_unused()


def elements(kind):
    """Raw text of a map's elements (tests, diagnostics); None without the table."""
    return nft(f"list map {TABLE} {kind}", check=False)
