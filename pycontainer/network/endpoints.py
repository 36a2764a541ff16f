"""A container's endpoints: its networking set up at start, and networks
connected or disconnected while it runs.

Per container (bridge and user networks):

* a network namespace, which the init joins right after ``SYNC``
  (``PYC_OP_SETNS``): for a detached container it is pinned by a bind mount
  on ``<run dir>/netns`` (the monitor's restarts keep the namespace, the
  interfaces and the addresses); for an attached run it is made and plugged
  on a thread while the child is cloned, and handed over as
  ``/proc/<us>/fd/<slot>`` (:meth:`Endpoints._start_attached`);
* per network, a lease (:mod:`.leases`) and a veth pair (:mod:`.bridge`);
* published ports (:mod:`.ports`), hosts files and resolv.conf (:mod:`.hosts`);
* ``<run dir>/network.json``, written first: what may exist, for
  :mod:`.recovery` and for ``attrs``.
"""
import contextlib
import os

from ..errors import Conflict
from . import bridge, dns, hosts, ports
from . import leases as _leases
from . import netlink
from .recovery import owner
from .records import DEFAULT_NAME
from .store import is_default


class Started:
    """What :meth:`Endpoints.start` set up for one container start.

    ``netns``: the namespace file the init joins (right after SYNC);
    ``hooks``: monitor hooks; ``on_spawn(pid)``: for attached runs, returns a
    callable that waits for the setup running on a thread since start() (the
    engine calls both while the child mounts, before letting it past SYNC).
    """

    def __init__(self, owner=None, cid=None, netns=None, hooks=(), on_spawn=None,
                 cleanup=None, dns=None):
        self.owner, self.cid, self.netns, self.hooks = owner, cid, netns, list(hooks)
        self.on_spawn = on_spawn
        self._cleanup = cleanup
        self.dns = dns          # a detached start's DNS server (:class:`.dns.Server`), for the monitor

    def handed_over(self):
        """The monitor runs (or failed to start): drop our copy of its DNS socket."""
        if self.dns is not None:
            self.dns.close()

    def release(self):
        self.handed_over()
        if self._cleanup is not None:
            self._cleanup()
            self._cleanup = None
        if self.owner is not None:
            self.owner.release(self.cid)


NOTHING = Started()


def _embedded_dns(recs):
    """A container that starts on a user network gets the embedded DNS server."""
    return any(not is_default(rec) for rec, _ in recs)


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


class Endpoints:
    """Container endpoints over ``networks`` (:class:`.records.Networks`);
    ``recovery`` (:class:`.recovery.Recovery`) undoes them."""

    def __init__(self, networks, recovery):
        self.networks = networks
        self.recovery = recovery
        self.store = networks.store
        self.files = recovery.files

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
        if self.recovery.has_state(cid):
            self.recovery.release(cid)                 # a crash left it
        recs = [(self.networks.get(name), ep) for name, ep in cfg.networks.items()]
        # The intent first: release() reads it to find what may exist.
        state = {"Owner": owner() if attached else None, "Netns": self.files.netns(cid),
                 "Networks": [rec["Id"] for rec, _ in recs], "Endpoints": {},
                 "HasPorts": bool(cfg.ports), "Ports": []}
        self.files.write_state(cid, state)
        try:
            if cfg.ports:
                state["Ports"] = ports.publish(self.store, cid, cfg.ports)
            with open(self.files.path(cid, "resolv.conf"), "w") as f:
                if _embedded_dns(recs):
                    f.write(hosts.embedded_resolv_conf(search=cfg.dns_search,
                                                       options=cfg.dns_opt))
                else:
                    f.write(hosts.resolv_conf(servers=cfg.dns, search=cfg.dns_search,
                                              options=cfg.dns_opt))
            with open(self.files.path(cid, hosts.EXTRA), "w") as f:
                f.write(hosts.extra_lines(cfg.extra_hosts, self._links(cfg, recs)))
            if attached:
                started = self._start_attached(cid, cfg, recs, state)
            else:
                server = self._finish(cid, cfg, recs, state)
                started = Started(self.recovery, cid, state["Netns"],
                                  self.recovery.hooks(cid, state), dns=server)
        except BaseException:
            self.recovery.release(cid)
            raise
        return started

    def _links(self, cfg, recs):
        """[ip, alias, name, id] of each container run()'s ``links`` names:
        its address on a network we join, now (an EndpointConfig's links
        are names the hosts files follow: :func:`.hosts.refresh`)."""
        out = []
        for target, alias in cfg.links:
            st = self.files.read_state(target) or {}
            eps = st.get("Endpoints") or {}
            ours = [r["Id"] for r, _ in recs if r["Id"] in eps]
            if not ours:
                raise Conflict(f"cannot link to container {target[:12]}: it is not running "
                               "on a network this container joins")
            ep = eps[ours[0]]
            out.append([ep["IPAddress"], alias, ep.get("Name") or target[:12], target])
        return out

    def _start_attached(self, cid, cfg, recs, state):
        """An attached run: the namespace is made and plugged on a thread
        while the engine clones the child, which joins it after SYNC through
        ``/proc/<us>/fd/<slot>``. The slot is /dev/null until the thread puts
        the namespace there (dup2), so joining too early fails (EINVAL) and
        can never land in our own namespace."""
        state["Netns"] = None
        for rec, _ in recs:
            bridge.ensure(self.store, rec)          # here: bridges live in our namespace
        slot = os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC)
        servers = []

        def finish():
            server = self._finish(cid, cfg, recs, state, slot)
            if server is not None:
                servers.append(server)
                server.spawn()          # ours: it ends with the run
        try:
            wait = _in_thread(finish)
        except BaseException:
            os.close(slot)
            raise

        def cleanup():
            with contextlib.suppress(BaseException):
                wait()
            for server in servers:
                server.stop()
            os.close(slot)
        return Started(self.recovery, cid, f"/proc/{os.getpid()}/fd/{slot}", [],
                       on_spawn=lambda pid: wait, cleanup=cleanup)

    def _finish(self, cid, cfg, recs, state, slot=None):
        """The namespace (pinned on ``state["Netns"]``, or put in the fd
        ``slot``), its interfaces, DNAT and hosts files (the caller releases
        everything when this raises); returns the DNS server to start, on
        user networks (:mod:`.dns`)."""
        server = None
        nsnl, fd = bridge.new_namespace(state["Netns"], slot)
        try:
            try:
                with netlink.local() as host:
                    routed = False
                    for i, (rec, epcfg) in enumerate(recs):
                        route = not routed and not rec.get("Internal")
                        ep = self._plug(cid, cfg, rec, epcfg, i, host, nsnl, fd, route)
                        routed = routed or route
                        state["Endpoints"][rec["Id"]] = ep
                if _embedded_dns(recs):
                    server = dns.Server(dns.open_sockets(f"/proc/self/fd/{fd}"),
                                        self.files.path(cid, "hosts"),
                                        dns.upstreams(cfg.dns, all(r.get("Internal")
                                                                   for r, _ in recs)))
            finally:
                os.close(fd)
        finally:
            nsnl.close()
        try:
            self._publish(cid, cfg, state)
        except BaseException:
            if server is not None:
                server.close()
            raise
        return server

    def _publish(self, cid, cfg, state):
        """DNAT of the published ports, network.json and the hosts files."""
        if state["Ports"]:
            ports.forward(state["Ports"], state["Endpoints"].values())
        self.files.write_state(cid, state)
        eps = list(state["Endpoints"].values())
        if any(ep["Network"] != DEFAULT_NAME for ep in eps):
            hosts.refresh(self.store, self.files, list(state["Endpoints"]), also=(cid,))
        else:
            hosts.write_own(self.files, cid, cfg.hostname, eps)

    def _plug(self, cid, cfg, rec, epcfg, i, host, nsnl, nsfd, route):
        """Lease an address on ``rec`` and plug a veth into the namespace; on
        failure the lease and the veth are dropped again."""
        br_index = bridge.ensure(self.store, rec)
        ep = _leases.lease(self.store, rec, cid, cfg.name, cfg.hostname, epcfg.get("Aliases"),
                           epcfg.get("IPv4Address"), f"eth{i}", i, mac=epcfg.get("MacAddress"),
                           links=epcfg.get("Links"))
        try:
            # a link-local address (169.254/16) reaches its whole range, another only itself
            extra = [f"{ip}/16" if ip.startswith("169.254.") else f"{ip}/32"
                     for ip in epcfg.get("LinkLocalIPs") or ()]
            bridge.plug(host, nsnl, nsfd, ep, br_index, rec.get("MTU"), route, extra)
        except BaseException:
            self._unplug(cid, rec["Id"], ep["IPAddress"])
            raise
        return ep

    def _unplug(self, cid, nid, ip=None):
        """Drop ``cid``'s lease on ``nid`` and delete its veth (if any)."""
        ep = _leases.unlease(self.store, nid, cid, ip)
        if ep and ep.get("Veth"):
            bridge.unplug(ep["Veth"])
        return ep

    def _start_joined(self, cid, target, attached):
        """network_mode container:<id>: join the other container's namespace."""
        path = self.files.netns(target)
        if not self.files.pinned(target):
            st = self.recovery.state_of(target)
            pid = st["Pid"] if st and st["Running"] else 0
            if not pid:
                raise Conflict(f"cannot join the network of container {target[:12]}: "
                               "it is not running")
            path = f"/proc/{pid}/ns/net"
        hosts.copy_from(self.files, target, cid)
        self.files.write_state(cid, {"Owner": owner() if attached else None,
                                     "Joined": target, "Endpoints": {}, "Ports": []})
        return Started(self.recovery, cid, path, [])

    # -- connect / disconnect at run time -----------------------------------------------
    def connect_running(self, cid, cfg, rec, epcfg):
        """Plug a running container into one more network."""
        state = self.files.read_state(cid)
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
        self.files.write_state(cid, state)
        if state.get("Netns"):       # the monitor's fast hook cannot update peers' hosts
            open(self.files.path(cid, "network.full"), "w").close()
        hosts.refresh(self.store, self.files, [rec["Id"]], also=(cid,))
        return ep

    def disconnect_running(self, cid, nid):
        """Unplug a container from a network (its lease, its veth)."""
        state = self.files.read_state(cid) or {"Endpoints": {}}
        state["Endpoints"].pop(nid, None)
        self._unplug(cid, nid)
        if os.path.exists(self.files.state(cid)):
            self.files.write_state(cid, state)
        hosts.refresh(self.store, self.files, [nid], also=(cid,))
