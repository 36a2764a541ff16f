"""Container networking: networks, endpoints, published ports, hosts files.

One :class:`Networking` per Client (and one in each release hook). Every
kernel object it makes lives in the network namespace of the calling thread
and is named ``pyc...``; every lease, port claim and endpoint is recorded in
the store *before* the kernel object it stands for is made, so that
:meth:`Networking.release` (idempotent) and :meth:`Networking.recover` can
undo any prefix of a start.

Per container (bridge and user networks):

* a network namespace made by the engine, which the init joins right after
  ``SYNC`` (``PYC_OP_SETNS``): for a detached container it is pinned by a
  bind mount on ``<run dir>/netns`` (the monitor's restarts keep the
  namespace, the interfaces and the addresses); for an attached run it is
  made and plugged on a thread while the child is cloned, and handed over
  as ``/proc/<us>/fd/<slot>`` (:meth:`Networking._start_attached`);
* per network, a lease (address, MAC, veth name) and a veth pair: the host
  end ``pycXXXXXXXX`` on the network's bridge, the other end ``ethN`` inside;
* ``<run dir>/network.json``: what was set up, for release and ``attrs``;
* ``<run dir>/hosts`` and ``resolv.conf``, bound on /etc.

Release (monitor hook, or Python after an attached run): port claims and
DNAT elements, the netns mount (the kernel then deletes the veth pair with
the namespace), the leases, the peers' hosts entries.
"""
import contextlib
import fcntl
import ipaddress
import os
import re
import socket
import sys
import time

from .. import _core
from ..errors import Conflict, InvalidArgument
from . import firewall, hosts, ipam, netlink, ports
from .store import NetworkNotFound, NetworkStore, read_json, write_json

DEFAULT_NAME = "bridge"
DEFAULT_BRIDGE = "pyc0"
PREDEFINED = ("bridge", "host", "none")
OPT_NAME = "com.docker.network.bridge.name"
OPT_MTU = "com.docker.network.driver.mtu"
OPT_MASQ = "com.docker.network.bridge.enable_ip_masquerade"
OPT_DEFAULT = "com.docker.network.bridge.default_bridge"
DEFAULT_MTU = 1500
_IFNAME = re.compile(r"^[a-zA-Z0-9_.-]{1,15}$")
NET_NAME = re.compile(r"^[a-zA-Z0-9][a-zA-Z0-9_.-]*$")
PKG_PARENT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The release hook: a bare interpreter (-I -S: ~10 ms) that imports only this
# package and the C core (a stub parent package keeps pycontainer/__init__ out;
# argv[2] is where cffi's backend lives).
_HOOK_BOOT = ("import sys,types;p=types.ModuleType('pycontainer');"
              "p.__path__=[sys.argv[1]+'/pycontainer'];sys.modules['pycontainer']=p;"
              "sys.path.append(sys.argv[2]);"
              "from pycontainer.network.release import main;main(sys.argv[3:])")


def _now():
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"


def proc_start(pid):
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
        fields = data[data.rindex(b")") + 2:].split()
        if fields[0] in (b"Z", b"X"):
            return None
        return int(fields[19])
    except (OSError, ValueError, IndexError):
        return None


def _owner():
    pid = os.getpid()
    return [pid, proc_start(pid)]


def _owner_alive(owner):
    return bool(owner) and proc_start(owner[0]) == owner[1]


def _lock_held(path):
    """Does another open file hold an exclusive flock on ``path``?"""
    try:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return False
    except BlockingIOError:
        return True
    finally:
        os.close(fd)


def _subnet(rec):
    cfg = rec["IPAM"]["Config"]
    return ipaddress.IPv4Network(cfg[0]["Subnet"]) if cfg else None


def _sysctl(path, value):
    """Write a sysctl of the calling thread's network namespace if it differs."""
    try:
        with open(path) as f:
            if f.read().strip() == value:
                return
        with open(path, "w") as f:
            f.write(value)
    except FileNotFoundError:
        pass


class Started:
    """What :meth:`Networking.start` set up for one container start.

    ``netns``: the namespace file the init joins (right after SYNC);
    ``hooks``: monitor hooks; ``on_spawn(pid)``: for attached runs, returns a
    callable that waits for the setup running on a thread since start() (the
    engine calls both while the child mounts, before letting it past SYNC).
    """

    def __init__(self, owner=None, cid=None, netns=None, hooks=(), on_spawn=None,
                 cleanup=None):
        self.owner, self.cid, self.netns, self.hooks = owner, cid, netns, list(hooks)
        self.on_spawn = on_spawn
        self._cleanup = cleanup

    def release(self):
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
        if self.owner is not None:
            self.owner.release(self.cid)


NOTHING = Started()


class Networking:
    """Networks of one store, and the endpoints of its containers."""

    def __init__(self, root, run_root, state_of=None):
        self.root = root
        self.run_root = run_root
        # cid -> docker's State dict (the engine's reading), or None: no such container
        self.state_of = state_of or (lambda cid: None)
        self.store = NetworkStore(root)
        self.resolve_container = None     # name or id -> id (set by the Client)

    def rundir(self, cid):
        return os.path.join(self.run_root, cid)

    def netns_path(self, cid):
        return os.path.join(self.rundir(cid), "netns")

    def state_path(self, cid):
        return os.path.join(self.rundir(cid), "network.json")

    def hook(self, cid):
        """The release in Python (``python -m``-like, ~25 ms): everything."""
        return [sys.executable, "-I", "-S", "-c", _HOOK_BOOT, PKG_PARENT, _core.BACKEND_DIR,
                self.root, self.run_root, cid]

    def hooks(self, cid, state):
        """The monitor's hooks for a container once it is done for good.

        The common case (no published port, only the default network: no
        hosts file of another container to update) needs no Python: unmount
        the namespace (the kernel deletes its veths) and delete the lease
        files (~3 ms). Otherwise, or once ``network.full`` exists (a user
        network connected at run time), the Python release runs instead.
        """
        d = self.rundir(cid)
        full = os.path.join(d, "network.full")
        if state["Ports"] or any(ep["Network"] != DEFAULT_NAME
                                 for ep in state["Endpoints"].values()):
            open(full, "w").close()
        leases = [self.store.path(nid, "leases", ep["IPAddress"])
                  for nid, ep in state["Endpoints"].items()]
        sh, umount, rm = (_program(p) for p in ("sh", "umount", "rm"))
        fast = (f'[ -e "$1/network.full" ] && exit 0; d=$1; shift; {umount} "$d/netns"; '
                f'exec {rm} -f -- "$@" "$d/netns" "$d/network.json" "$d/resolv.conf"')
        slow = '[ -e "$1/network.full" ] || exit 0; shift; exec "$@"'
        return [[sh, "-c", fast, "pyc-release", d, *leases],
                [sh, "-c", slow, "pyc-release", d, *self.hook(cid)]]

    # -- network records -------------------------------------------------------
    def get(self, key):
        """A network record by name, id or id prefix (``bridge``: the default,
        recorded on first use)."""
        if key == DEFAULT_NAME:
            return self.default()
        return self.store.find(key)

    def default(self):
        """The default network's record, made on first use (store only: its
        bridge is made when a container first needs it)."""
        for rec in self.store.records():
            if rec["Name"] == DEFAULT_NAME:
                return rec
        try:
            return self.create(DEFAULT_NAME, default=True)
        except Conflict:                # another process made it first
            return self.store.find(DEFAULT_NAME)

    def _routes(self):
        with netlink.local() as nl:
            return [r for r in nl.routes() if r.prefixlen > 0]

    def create(self, name, driver=None, options=None, ipam_config=None, internal=False,
               labels=None, enable_ipv6=False, attachable=None, scope=None, ingress=None,
               default=False):
        """Record a bridge network and set it up in the kernel; returns the record."""
        if not isinstance(name, str) or not NET_NAME.match(name):
            raise InvalidArgument(f"invalid network name {name!r}: use [a-zA-Z0-9][a-zA-Z0-9_.-]*")
        if driver not in (None, "bridge"):
            raise InvalidArgument(f"network driver {driver!r} is not supported: use bridge")
        if enable_ipv6:
            raise InvalidArgument("IPv6 networks are not supported")
        if ingress:
            raise InvalidArgument("ingress networks need swarm; not supported")
        if scope not in (None, "local"):
            raise InvalidArgument(f"network scope {scope!r} is not supported: use local")
        if name in PREDEFINED and not default:
            raise Conflict(f"network with name {name} already exists (pre-defined)")
        if labels is not None and not isinstance(labels, dict):
            raise InvalidArgument("labels must be a dict")
        opts = {str(k): str(v) for k, v in (options or {}).items()}
        mtu = DEFAULT_MTU
        if OPT_MTU in opts:
            try:
                mtu = int(opts[OPT_MTU])
            except ValueError:
                mtu = 0
            if not 68 <= mtu <= 65535:
                raise InvalidArgument(f"invalid MTU {opts[OPT_MTU]!r}: use 68-65535")
        masq = opts.get(OPT_MASQ, "true").lower() not in ("false", "0", "no")
        bridge = opts.get(OPT_NAME)
        if bridge is not None and (not _IFNAME.match(bridge) or not bridge.startswith("pyc")):
            raise InvalidArgument(f"invalid bridge name {bridge!r}: pyc and at most 12 more of "
                                  "[a-zA-Z0-9_.-] (everything pycontainer makes is named pyc...)")
        ipam_config = dict(ipam_config or {})
        if ipam_config.get("Driver") not in (None, "", "default"):
            raise InvalidArgument(f"IPAM driver {ipam_config['Driver']!r} is not supported")
        pools = ipam_config.get("Config") or []
        if len(pools) > 1:
            raise InvalidArgument("only one IPv4 pool per network is supported")
        pool = ipam.normalize_pool(pools[0]) if pools else None
        routes = self._routes()
        with self.store.lock():
            recs = self.store.records()
            if any(r["Name"] == name for r in recs):
                raise Conflict(f"network with name {name} already exists")
            taken = [s for s in map(_subnet, recs) if s is not None]
            if pool:
                sub = ipaddress.IPv4Network(pool["Subnet"])
                for t in taken:
                    if sub.overlaps(t):
                        raise Conflict(f"subnet {sub} overlaps the subnet {t} of another network")
                for r in routes:
                    if sub.overlaps(r):
                        raise Conflict(f"subnet {sub} overlaps the host route to {r}")
            else:
                pool = ipam.normalize_pool({"Subnet": str(ipam.pick_subnet(taken + routes))})
            nid = os.urandom(32).hex()
            used = {r.get("Bridge") for r in recs}
            if bridge is None:
                bridge = DEFAULT_BRIDGE if default and DEFAULT_BRIDGE not in used and \
                    not _link_exists(DEFAULT_BRIDGE) else f"pyc-br-{nid[:8]}"
            elif bridge in used:
                raise Conflict(f"bridge {bridge} is used by another network")
            if default:
                opts = {OPT_DEFAULT: "true", "com.docker.network.bridge.enable_icc": "true",
                        OPT_MASQ: "true", "com.docker.network.bridge.host_binding_ipv4": "0.0.0.0",
                        OPT_NAME: bridge, OPT_MTU: str(mtu)}
            rec = {"Name": name, "Id": nid, "Created": _now(), "Scope": "local",
                   "Driver": "bridge", "EnableIPv6": False,
                   "IPAM": {"Driver": "default", "Options": ipam_config.get("Options") or {},
                            "Config": [pool]},
                   "Internal": bool(internal), "Attachable": bool(attachable), "Ingress": False,
                   "ConfigFrom": {"Network": ""}, "ConfigOnly": False, "Options": opts,
                   "Labels": dict(labels or {}), "Bridge": bridge, "MTU": mtu,
                   "Masquerade": masq and not internal}
            self.store.add(rec)
        if not default:
            try:
                self.ensure_kernel(rec)
            except BaseException:
                self.store.delete(nid)
                raise
        return rec

    def ensure_kernel(self, rec):
        """The network's bridge (address, up), sysctls and firewall chains in
        the calling thread's namespace; made once, found by name later.
        Returns the bridge's index."""
        br = rec["Bridge"]
        with contextlib.suppress(OSError):
            return socket.if_nametoindex(br)
        with self.store.lock():
            with contextlib.suppress(OSError):
                return socket.if_nametoindex(br)
            pool = rec["IPAM"]["Config"][0]
            sub = ipaddress.IPv4Network(pool["Subnet"])
            with netlink.local() as nl:
                nl.add_bridge(br, mtu=rec.get("MTU") or DEFAULT_MTU)
                try:
                    index = socket.if_nametoindex(br)
                    nl.add_addr(index, f"{pool['Gateway']}/{sub.prefixlen}")
                    # published ports answer on 127.0.0.1: DNAT from loopback onto the bridge
                    _sysctl(f"/proc/sys/net/ipv4/conf/{br}/route_localnet", "1")
                    if not rec.get("Internal"):
                        _sysctl("/proc/sys/net/ipv4/ip_forward", "1")
                    firewall.add_network(rec["Id"][:12], br, str(sub), rec.get("Internal"),
                                         rec.get("Masquerade", True))
                except BaseException:
                    nl.del_link(br)
                    raise
            return index

    def remove(self, key):
        """Remove a network that no running container uses."""
        rec = self.get(key) if key != DEFAULT_NAME else self.store.find(key)
        if rec["Name"] == DEFAULT_NAME or rec.get("Options", {}).get(OPT_DEFAULT) == "true":
            raise Conflict(f"{rec['Name']} is a pre-defined network and cannot be removed")
        self._drop_stale(rec["Id"])
        with self.store.lock():
            with self.store.leases(rec["Id"]) as leases:
                if leases.used():
                    names = ", ".join(sorted(ep.get("Name", c[:12]) for c, ep in
                                             self.store.read_leases(rec["Id"]).items()))
                    raise Conflict(f"error while removing network: network {rec['Name']} id "
                                   f"{rec['Id']} has active endpoints ({names})")
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.store.path(rec["Id"], "config.json"))
            self.remove_kernel(rec)
            self.store.delete(rec["Id"])
        return rec

    def remove_kernel(self, rec):
        firewall.remove_network(rec["Id"][:12], rec["Bridge"], rec["IPAM"]["Config"][0]["Subnet"])
        with netlink.local() as nl:
            nl.del_link(rec["Bridge"])

    def _drop_stale(self, nid):
        """Release endpoints whose container is not running (a crash)."""
        for cid in list(self.store.read_leases(nid)):
            if not self._live(cid):
                self.release(cid, thorough=True)

    # -- container config ----------------------------------------------------------
    def resolve(self, cfg):
        """At create: check the networks a config names exist (the default one is
        recorded on first use) and resolve ``container:<name>`` to an id."""
        mode = cfg.network_mode
        if mode in ("none", "host"):
            return
        if mode.startswith("container:"):
            if self.resolve_container is None:
                raise InvalidArgument("network_mode container: needs a client")
            cfg.network_mode = "container:" + self.resolve_container(mode[10:])
            return
        for name, ep in cfg.networks.items():
            rec = self.get(name)
            ep["NetworkID"] = rec["Id"]
            if ep.get("IPv4Address"):
                ipam.Pool(rec["IPAM"]["Config"][0]).check_static(ep["IPv4Address"])

    # -- start -----------------------------------------------------------------------
    def start(self, cid, cfg, attached=False):
        """Set up the container's networking; returns :class:`Started` (the
        netns to join, the monitor hooks). On failure nothing is left.

        ``attached``: the caller runs the container itself and releases it
        (recorded as the owner, so that recovery elsewhere leaves it alone);
        otherwise the caller holds the container's lock and the monitor's
        hook releases it.
        """
        mode = cfg.network_mode
        if mode in ("none", "host"):
            return NOTHING
        if mode.startswith("container:"):
            return self._start_joined(cid, mode[10:], attached)
        if self._has_state(cid):
            self.release(cid)                 # a crash left it
        recs = [(self.get(name), ep) for name, ep in cfg.networks.items()]
        # The intent first: release() reads it to find what may exist.
        state = {"Owner": _owner() if attached else None, "Netns": self.netns_path(cid),
                 "Networks": [rec["Id"] for rec, _ in recs], "Endpoints": {},
                 "HasPorts": bool(cfg.ports), "Ports": []}
        write_json(self.state_path(cid), state)
        try:
            if cfg.ports:
                with self.store.ports() as table:
                    state["Ports"] = ports.reserve(table, cid, cfg.ports)
            with open(os.path.join(self.rundir(cid), "resolv.conf"), "w") as f:
                f.write(hosts.resolv_conf())
            if attached:
                started = self._start_attached(cid, cfg, recs, state)
            else:
                self._finish(cid, cfg, recs, state)
                started = Started(self, cid, state["Netns"], self.hooks(cid, state))
        except BaseException:
            self.release(cid)
            raise
        return started

    def _start_attached(self, cid, cfg, recs, state):
        """An attached run: the namespace is made and plugged on a thread
        while the engine clones the child, which joins it after SYNC through
        ``/proc/<us>/fd/<slot>``. The slot is /dev/null until the thread puts
        the namespace there (dup2), so joining too early fails (EINVAL) and
        can never land in our own namespace."""
        state["Netns"] = None
        for rec, _ in recs:
            self.ensure_kernel(rec)          # here: bridges live in our namespace
        slot = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        try:
            wait = _in_thread(self._finish, cid, cfg, recs, state, slot)
        except BaseException:
            os.close(slot)
            raise

        def cleanup():
            with contextlib.suppress(BaseException):
                wait()
            os.close(slot)
        return Started(self, cid, f"/proc/{os.getpid()}/fd/{slot}", [],
                       on_spawn=lambda pid: wait, cleanup=cleanup)

    def _finish(self, cid, cfg, recs, state, slot=None):
        """The namespace (pinned on ``state["Netns"]``, or put in the fd
        ``slot``), its interfaces, DNAT and hosts files (the caller releases
        everything when this raises)."""
        if slot is None:
            nsnl = netlink.new_netns(state["Netns"])
            fd = os.open(state["Netns"], os.O_RDONLY | os.O_CLOEXEC)
        else:
            nsnl, fd = netlink.new_netns_fd()
            try:
                nsnl.set_link(1, up=True)            # lo
                os.dup2(fd, slot, inheritable=False)
            except BaseException:
                os.close(fd)
                nsnl.close()
                raise
        try:
            try:
                with netlink.local() as host:
                    routed = False
                    for i, (rec, epcfg) in enumerate(recs):
                        route = not routed and not rec.get("Internal")
                        ep = self._plug(cid, cfg, rec, epcfg, i, host, nsnl, fd, route)
                        routed = routed or route
                        state["Endpoints"][rec["Id"]] = ep
            finally:
                os.close(fd)
        finally:
            nsnl.close()
        if state["Ports"]:
            first = next(iter(state["Endpoints"].values()), None)
            if first is None:
                raise InvalidArgument("published ports need a network to reach the "
                                      "container on")
            firewall.add_ports(state["Ports"], first["IPAddress"])
        write_json(self.state_path(cid), state)
        eps = list(state["Endpoints"].values())
        if any(ep["Network"] != DEFAULT_NAME for ep in eps):
            self.refresh_hosts(list(state["Endpoints"]), also=(cid,))
        else:       # the default network only: no names to share, no peers to tell
            own = [(ep["IPAddress"], []) for ep in sorted(eps, key=lambda e: e["Index"])]
            hosts.write_in_place(os.path.join(self.rundir(cid), "hosts"),
                                 hosts.hosts_text(cfg.hostname, own or [("127.0.1.1", [])], []))

    def _plug(self, cid, cfg, rec, epcfg, i, host, nsnl, nsfd, route):
        """Lease an address on ``rec`` and plug a veth into the namespace; on
        failure the lease and the veth are dropped again."""
        br_index = self.ensure_kernel(rec)
        ifname = f"eth{i}"
        ep = self.lease(rec, cid, cfg.name, cfg.hostname, epcfg.get("Aliases"),
                        epcfg.get("IPv4Address"), ifname, i)
        try:
            host.add_veth(ep["Veth"], ifname, nsfd, master=br_index,
                          mtu=rec.get("MTU") or DEFAULT_MTU, peer_mac=ep["MacAddress"])
            idx = nsnl.ifindex(ifname)
            nsnl.set_link(idx, up=True)
            nsnl.add_addr(idx, f"{ep['IPAddress']}/{ep['IPPrefixLen']}")
            if route:
                nsnl.add_default_route(ep["Gateway"])
        except BaseException:
            self._unplug(cid, rec["Id"], ep["IPAddress"])
            raise
        return ep

    def lease(self, rec, cid, name="", hostname="", aliases=None, static=None, ifname="eth0",
              index=0):
        """Lease an address on network ``rec`` for container ``cid``: the next
        free one after the last handed out, or ``static``. Returns the endpoint
        record (address, MAC, veth name...). Safe across processes.

        Raises AddressesExhausted, AddressInUse, InvalidArgument (static
        address outside the subnet), NetworkNotFound (removed meanwhile).
        """
        pool = ipam.Pool(rec["IPAM"]["Config"][0])
        label = f"network {rec['Name']} ({rec['Id'][:12]})"
        with self.store.leases(rec["Id"]) as leases:
            used = {int(ipaddress.IPv4Address(n)) for n in leases.used()}
            last = leases.last
            while True:
                ip = pool.allocate(used, last, static, label=label)
                ep = {"Container": cid, "Name": name, "Hostname": hostname,
                      "Aliases": list(aliases or []), "IPAddress": ip,
                      "MacAddress": ipam.mac_for(ip), "EndpointID": os.urandom(32).hex(),
                      "Veth": "pyc" + os.urandom(4).hex(), "IfName": ifname, "Index": index,
                      "NetworkID": rec["Id"], "Network": rec["Name"],
                      "Gateway": str(pool.gateway), "IPPrefixLen": pool.prefixlen,
                      "IPAMConfig": {"IPv4Address": static} if static else None}
                try:
                    leases.claim(ip, ep)
                    break
                except FileExistsError:      # a file the lock did not cover: the next one
                    if static:
                        raise ipam.AddressInUse(f"address {ip} is already in use on {label}")
                    used.add(int(ipaddress.IPv4Address(ip)))
            if not static:
                leases.last = int(ipaddress.IPv4Address(ip))
        return ep

    def _start_joined(self, cid, target, attached):
        """network_mode container:<id>: join the other container's namespace."""
        path = self.netns_path(target)
        if not _is_mount(path):
            pid = self._pid(target)
            if not pid:
                raise Conflict(f"cannot join the network of container {target[:12]}: "
                               "it is not running")
            path = f"/proc/{pid}/ns/net"
        for name in ("hosts", "resolv.conf"):
            with contextlib.suppress(OSError):
                with open(os.path.join(self.rundir(target), name)) as f:
                    text = f.read()
                dest = os.path.join(self.rundir(cid), name)
                if not hosts.write_in_place(dest, text):
                    with open(dest, "w") as f:
                        f.write(text)
        write_json(self.state_path(cid), {"Owner": _owner() if attached else None,
                                          "Joined": target, "Endpoints": {}, "Ports": []})
        return Started(self, cid, path, [])

    def _pid(self, cid):
        st = self.state_of(cid)
        return st["Pid"] if st and st["Running"] else 0

    # -- connect / disconnect at run time -----------------------------------------------
    def connect_running(self, cid, cfg, rec, epcfg):
        """Plug a running container into one more network."""
        state = read_json(self.state_path(cid))
        path = state and (state.get("Netns") or (state.get("Pid") and
                                                 f"/proc/{state['Pid']}/ns/net"))
        if not path or not os.path.exists(path):
            raise Conflict(f"container {cid[:12]} has no network namespace of its own "
                           f"(network_mode {cfg.network_mode})")
        if rec["Id"] in state["Endpoints"]:
            raise Conflict(f"endpoint with name {cfg.name} already exists in network "
                           f"{rec['Name']}")
        used = {ep["IfName"] for ep in state["Endpoints"].values()}
        i = next(n for n in range(len(used) + 1) if f"eth{n}" not in used)
        nsnl = netlink.netns_socket(path)
        try:
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                with netlink.local() as host:
                    ep = self._plug(cid, cfg, rec, epcfg, i, host, nsnl, fd, route=False)
            finally:
                os.close(fd)
        finally:
            nsnl.close()
        state["Endpoints"][rec["Id"]] = ep
        state.setdefault("Networks", []).append(rec["Id"])
        write_json(self.state_path(cid), state)
        if state.get("Netns"):       # the monitor's fast hook cannot update peers' hosts
            open(os.path.join(self.rundir(cid), "network.full"), "w").close()
        self.refresh_hosts([rec["Id"]], also=(cid,))
        return ep

    def disconnect_running(self, cid, nid):
        state = read_json(self.state_path(cid)) or {"Endpoints": {}}
        state["Endpoints"].pop(nid, None)
        self._unplug(cid, nid)
        if os.path.exists(self.state_path(cid)):
            write_json(self.state_path(cid), state)
        self.refresh_hosts([nid], also=(cid,))

    def unlease(self, nid, cid, ip=None):
        """Drop ``cid``'s lease on network ``nid``; returns it (or None)."""
        with contextlib.suppress(NetworkNotFound):
            with self.store.leases(nid) as leases:
                return leases.drop(cid, ip)
        return None

    def _unplug(self, cid, nid, ip=None):
        """Drop ``cid``'s lease on ``nid`` and delete its veth (if any)."""
        ep = self.unlease(nid, cid, ip)
        if ep and ep.get("Veth"):
            with netlink.local() as nl:
                nl.del_link(ep["Veth"])
        return ep

    # -- release -------------------------------------------------------------------
    def _has_state(self, cid):
        return os.path.exists(self.state_path(cid)) or _is_mount(self.netns_path(cid))

    def release(self, cid, thorough=False):
        """Undo everything :meth:`start` made for ``cid`` (idempotent, any prefix).

        Without ``thorough`` only what ``network.json`` (written first by
        start) says may exist is looked at; ``thorough`` (recovery after a
        reboot wiped the run dir) scans every network and the port registry,
        and deletes the veths explicitly."""
        state = read_json(self.state_path(cid))
        mounted = _is_mount(self.netns_path(cid))
        if state is None and not mounted and not thorough:
            return
        state = state or {}
        if state.get("HasPorts") or state.get("Ports") or thorough:
            with self.store.ports() as table:
                freed = ports.release(table, cid)
            if freed:
                with contextlib.suppress(OSError):
                    firewall.remove_ports(freed)
        if mounted:
            netlink.umount(self.netns_path(cid))   # the kernel deletes the netns and its veths
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self.netns_path(cid))
        nids = set(state.get("Networks") or ()) | set(state.get("Endpoints") or ())
        if thorough:
            nids |= set(self.store.ids())
        changed = []
        known = state.get("Endpoints") or {}
        for nid in nids:
            ep = self.unlease(nid, cid, known.get(nid, {}).get("IPAddress"))
            if ep:
                if ep.get("Network") != DEFAULT_NAME:
                    changed.append(nid)          # peers on a user network: hosts files
                if thorough and ep.get("Veth"):
                    with contextlib.suppress(OSError):
                        with netlink.local() as nl:
                            nl.del_link(ep["Veth"])
        for name in ("network.json", "resolv.conf", "network.full"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(os.path.join(self.rundir(cid), name))
        if changed:
            self.refresh_hosts(changed)

    def _live(self, cid):
        """Is ``cid`` running, being started (its lock is held) or run attached
        by a live process?"""
        state = read_json(self.state_path(cid)) or {}
        if _owner_alive(state.get("Owner")):
            return True
        if _lock_held(os.path.join(self.rundir(cid), "lock")):
            return True
        st = self.state_of(cid)
        if st is None:
            return False
        # a monitor still alive is running its release hooks: leave it to them
        return st["Running"] or st["Restarting"] or bool(
            st.get("MonitorPid") and _owner_alive([st["MonitorPid"],
                                                   st.get("MonitorStartTime")]))

    def recover(self, exists=lambda cid: False):
        """Release what crashed or killed processes left: leases, port claims and
        netns mounts of containers that no longer exist (nor are being created).

        Returns the suspects for which ``exists(cid)`` is true: the caller
        releases those under each container's lock, since another process
        may be starting one of them right now."""
        suspects = set()
        for nid in self.store.ids():
            suspects.update(self.store.read_leases(nid))
        suspects.update(v.get("Container") for v in self.store.read_ports().values())
        with contextlib.suppress(FileNotFoundError):
            for name in os.listdir(self.run_root):
                if len(name) == 64 and (os.path.exists(os.path.join(self.run_root, name,
                                                                    "network.json"))
                                        or _is_mount(self.netns_path(name))):
                    suspects.add(name)
        kept = set()
        for cid in suspects:
            if cid and exists(cid):
                kept.add(cid)
            elif cid and not self._live(cid):
                with contextlib.suppress(OSError, ValueError, KeyError):
                    self.release(cid, thorough=True)
        return kept

    # -- hosts files ---------------------------------------------------------------
    def refresh_hosts(self, nids, also=()):
        """Rewrite /etc/hosts of every container on the user networks ``nids``
        (and of ``also``), from the leases as they are now."""
        with self.store.hosts_lock():
            recs = {r["Id"]: r for r in self.store.records()}
            leases = {nid: self.store.read_leases(nid) for nid in recs}
            user = [n for n in nids if n in recs and not _is_default(recs[n])]
            members = set(also)
            for nid in user:
                members.update(leases.get(nid, {}))
            for cid in members:
                hosts.write_in_place(os.path.join(self.rundir(cid), "hosts"),
                                     self._hosts_for(cid, recs, leases))

    def _hosts_for(self, cid, recs, leases):
        own, peers = [], []
        hostname = None
        mine = sorted(((nid, eps[cid]) for nid, eps in leases.items() if cid in eps),
                      key=lambda x: x[1].get("Index", 0))
        for nid, ep in mine:
            user = not _is_default(recs[nid])
            hostname = hostname or ep.get("Hostname")
            own.append((ep["IPAddress"], [ep["Name"]] + ep.get("Aliases", []) if user else []))
            if not user:
                continue
            for other, oep in leases[nid].items():
                if other != cid:
                    peers.append((oep["IPAddress"], [oep["Name"]] + oep.get("Aliases", []) +
                                  [other[:12]]))
        if not own:      # no endpoint (left): the engine's file, hostname on 127.0.1.1
            with contextlib.suppress(OSError):
                with open(os.path.join(self.rundir(cid), "hostname")) as f:
                    hostname = f.read().strip()
            own = [("127.0.1.1", [])]
        return hosts.hosts_text(hostname, own, peers)

    # -- docker's views -------------------------------------------------------------------
    def describe(self, attrs, cid):
        """Fill ``NetworkSettings`` and the network parts of ``HostConfig`` in a
        container's attrs (from its config and what runs now)."""
        cfg = attrs["Runtime"]["Config"]
        attrs["NetworkSettings"] = self.settings(cid, cfg)
        hc = attrs.setdefault("HostConfig", {})
        hc["NetworkMode"] = cfg.get("network_mode", "none")
        hc["PortBindings"] = ports.port_bindings(cfg.get("ports") or [])
        hc["PublishAllPorts"] = bool(cfg.get("publish_all_ports"))
        ecfg = attrs.setdefault("Config", {})
        if cfg.get("exposed_ports"):
            ecfg["ExposedPorts"] = {k: {} for k in cfg["exposed_ports"]}
        return attrs

    def record(self, config_path, cid, attrs=None):
        """Rewrite ``NetworkSettings`` in config.json (caller holds the
        container's lock); a no-op for containers without networks."""
        mode = (attrs or {}).get("HostConfig", {}).get("NetworkMode")
        if mode in ("none", "host"):
            return
        data = read_json(config_path)
        if data is None or data.get("HostConfig", {}).get("NetworkMode") in ("none", "host"):
            return
        data.pop("State", None)
        data.pop("RestartCount", None)
        write_json(config_path, self.describe(data, cid))

    def containers_of(self, nid):
        """docker's ``Network.attrs["Containers"]``."""
        out = {}
        for cid, ep in self.store.read_leases(nid).items():
            out[cid] = {"Name": ep["Name"], "EndpointID": ep["EndpointID"],
                        "MacAddress": ep["MacAddress"],
                        "IPv4Address": f"{ep['IPAddress']}/{ep['IPPrefixLen']}",
                        "IPv6Address": ""}
        return out

    def settings(self, cid, cfg):
        """``NetworkSettings`` of a container (``cfg``: its ContainerConfig dict)."""
        state = read_json(self.state_path(cid)) or {}
        eps = state.get("Endpoints") or {}
        by_name = {ep["Network"]: ep for ep in eps.values()}
        nets = {}
        for name, want in (cfg.get("networks") or {}).items():
            ep = by_name.get(name) or {}
            user = name != DEFAULT_NAME
            aliases = list(want.get("Aliases") or [])
            nets[name] = {
                "IPAMConfig": {"IPv4Address": want["IPv4Address"]}
                if want.get("IPv4Address") else None,
                "Links": None,
                "Aliases": (aliases + [cid[:12]]) if user else (aliases or None),
                "NetworkID": want.get("NetworkID", ""), "EndpointID": ep.get("EndpointID", ""),
                "Gateway": ep.get("Gateway", ""), "IPAddress": ep.get("IPAddress", ""),
                "IPPrefixLen": ep.get("IPPrefixLen", 0), "IPv6Gateway": "",
                "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                "MacAddress": ep.get("MacAddress", ""), "DriverOpts": None,
                "DNSNames": ([cfg.get("name", ""), cid[:12]] + aliases) if user else None}
        mode = cfg.get("network_mode", "none")
        if mode in ("none", "host"):          # docker lists the pseudo network
            nets = {mode: {"IPAMConfig": None, "Links": None, "Aliases": None,
                           "NetworkID": _pseudo_id(mode), "EndpointID": "", "Gateway": "",
                           "IPAddress": "", "IPPrefixLen": 0, "IPv6Gateway": "",
                           "GlobalIPv6Address": "", "GlobalIPv6PrefixLen": 0,
                           "MacAddress": "", "DriverOpts": None, "DNSNames": None}}
        exposed = cfg.get("exposed_ports") or []
        out = {"Bridge": "", "SandboxID": cid if state.get("Netns") else "",
               "SandboxKey": state.get("Netns", ""), "HairpinMode": False,
               "LinkLocalIPv6Address": "", "LinkLocalIPv6PrefixLen": 0,
               "Ports": ports.docker_ports(exposed, state.get("Ports") or []) if state else {},
               "SecondaryIPAddresses": None, "SecondaryIPv6Addresses": None,
               "Networks": nets}
        primary = nets.get(DEFAULT_NAME, {})
        for k in ("EndpointID", "Gateway", "IPAddress", "IPPrefixLen", "MacAddress",
                  "IPv6Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen"):
            out[k] = primary.get(k, 0 if k.endswith("Len") else "")
        return out


def _pseudo_id(name):
    """The id of the ``host`` / ``none`` pseudo networks (models/networks.py)."""
    import hashlib
    return hashlib.sha256(f"pycontainer-{name}".encode()).hexdigest()


def _is_default(rec):
    return rec["Name"] == DEFAULT_NAME or (rec.get("Options") or {}).get(OPT_DEFAULT) == "true"


def _program(name):
    """Absolute path of a base tool for the monitor's hooks."""
    for d in ("/usr/bin", "/bin", "/usr/sbin", "/sbin"):
        if os.path.exists(os.path.join(d, name)):
            return os.path.join(d, name)
    return f"/bin/{name}"


def _in_thread(fn, *args):
    """Run ``fn(*args)`` on a thread (same network namespace as the caller's);
    returns a callable that waits for it and raises what it raised."""
    import threading
    box = []

    def run():
        try:
            fn(*args)
        except BaseException as e:       # noqa: B036 - handed to the waiter
            box.append(e)
    t = threading.Thread(target=run, name="pyc-net-setup", daemon=True)
    t.start()

    def wait():
        t.join()
        if box:
            raise box[0]
    return wait


def _link_exists(name):
    try:
        socket.if_nametoindex(name)
        return True
    except OSError:
        return False


def _is_mount(path):
    """Is ``path`` a mount point (a pinned namespace)? One statx-free check:
    a bind-mounted nsfs file lives on another device than its directory."""
    try:
        st = os.stat(path)
        return st.st_dev != os.stat(os.path.dirname(path)).st_dev
    except OSError:
        return False
