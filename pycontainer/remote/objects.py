"""``backend.networks``, ``backend.volumes`` and ``backend.events`` over the API."""
import json
import threading
import urllib.parse


def _q(name):
    return urllib.parse.quote(name, safe="")


class RemoteNetworks:
    _OPTIONS = {"driver": "Driver", "options": "Options", "ipam": "IPAM",
                "check_duplicate": "CheckDuplicate", "internal": "Internal",
                "labels": "Labels", "enable_ipv6": "EnableIPv6", "attachable": "Attachable",
                "scope": "Scope", "ingress": "Ingress"}

    def __init__(self, http):
        self.h = http

    def create(self, name, **options):
        from ..errors import InvalidArgument
        unknown = set(options) - set(self._OPTIONS)
        if unknown:
            raise InvalidArgument(f"networks.create(): unknown keyword {sorted(unknown)[0]!r}")
        body = {"Name": name, **{self._OPTIONS[k]: v for k, v in options.items()
                                 if v is not None}}
        nid = self.h.json("POST", "/networks/create", json_body=body)["Id"]
        return self.get(nid)

    def get(self, key):
        return self.h.json("GET", f"/networks/{_q(key)}")

    def list(self, names=None, ids=None, filters=None):
        f = dict(filters or {})
        if names:
            f["name"] = list(names)
        if ids:
            f["id"] = list(ids)
        return self.h.json("GET", "/networks", params={"filters": f or None}) or []

    def prune(self, filters=None):
        return self.h.json("POST", "/networks/prune", params={"filters": filters or None})

    def remove(self, key):
        self.h.request("DELETE", f"/networks/{_q(key)}")

    def connect(self, key, container, aliases=None, ipv4_address=None, link_local_ips=None,
                driver_opt=None, mac_address=None, links=None):
        cfg = {}
        if aliases:
            cfg["Aliases"] = list(aliases)
        if links:
            items = links.items() if isinstance(links, dict) else links
            cfg["Links"] = [v if isinstance(v, str) else ":".join(v) for v in items]
        ipam = {k: v for k, v in (("IPv4Address", ipv4_address),
                                  ("LinkLocalIPs", link_local_ips)) if v}
        if ipam:
            cfg["IPAMConfig"] = ipam
        if driver_opt:
            cfg["DriverOpts"] = dict(driver_opt)
        if mac_address:
            cfg["MacAddress"] = mac_address
        self.h.request("POST", f"/networks/{_q(key)}/connect",
                       json_body={"Container": container, "EndpointConfig": cfg})

    def disconnect(self, key, container, force=False):
        self.h.request("POST", f"/networks/{_q(key)}/disconnect",
                       json_body={"Container": container, "Force": force})


class RemoteVolumes:
    def __init__(self, http):
        self.h = http

    def create(self, name=None, **options):
        body = {"Name": name or "", "Driver": options.pop("driver", None) or "local",
                "DriverOpts": options.pop("driver_opts", None) or {},
                "Labels": options.pop("labels", None) or {}}
        if options:
            from ..errors import InvalidArgument
            raise InvalidArgument(f"volumes.create(): unknown keyword {sorted(options)[0]!r}")
        return self.h.json("POST", "/volumes/create", json_body=body)

    def get(self, name):
        return self.h.json("GET", f"/volumes/{_q(name)}")

    def list(self, filters=None):
        doc = self.h.json("GET", "/volumes", params={"filters": filters or None}) or {}
        return doc.get("Volumes") or []

    def prune(self, filters=None):
        return self.h.json("POST", "/volumes/prune", params={"filters": filters or None})

    def remove(self, name, force=False):
        self.h.request("DELETE", f"/volumes/{_q(name)}", params={"force": force})


class EventStream:
    """``GET /events``: a blocking iterator of JSON bytes (dicts with ``decode``);
    ``close()`` from any thread ends it."""

    def __init__(self, resp, decode):
        self.resp, self.decode = resp, decode
        self._lines = resp.iter_lines()
        self._closed = threading.Event()

    def __iter__(self):
        return self

    def __next__(self):
        while not self._closed.is_set():
            try:
                line = next(self._lines)
            except Exception:               # noqa: BLE001: closed under us, or the end
                self.close()
                raise StopIteration from None
            if line.strip():
                return json.loads(line) if self.decode else line.encode()
        raise StopIteration

    def close(self):
        self._closed.set()
        self.resp.close()


class RemoteEvents:
    def __init__(self, http):
        self.h = http

    def stream(self, since=None, until=None, filters=None, decode=False):
        def when(v):
            if v is None:
                return None
            return f"{v.timestamp():.9f}" if hasattr(v, "timestamp") else str(v)
        resp = self.h.request("GET", "/events", params={
            "since": when(since), "until": when(until), "filters": filters or None},
            stream=True)
        return EventStream(resp, decode)

    def emit(self, *args, **kwargs):
        from ..errors import InvalidArgument
        raise InvalidArgument("events are recorded by the daemon, not by its clients")
