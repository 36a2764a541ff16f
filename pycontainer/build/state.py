"""What a stage's build knows between two instructions: the image config
being made, its layers, the build args in scope, the shell."""
import copy
import platform as _platform

from ..errors import InvalidArgument
from ..image.record import StagedLayer
from .cache import digest

ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386",
        "ppc64le": "ppc64le", "s390x": "s390x", "riscv64": "riscv64"}
# Usable without an ARG line, and left out of the history (docker's rule).
PROXY_ARGS = ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "FTP_PROXY",
              "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy")
DEFAULT_SHELL = ["/bin/sh", "-c"]


def host_platform():
    machine = _platform.machine()
    return "linux", ARCH.get(machine, machine), ""


def platform_args(target=None):
    """BuildKit's automatic platform args (build = target: no emulation)."""
    os_, arch, variant = host_platform()
    build = f"{os_}/{arch}" + (f"/{variant}" if variant else "")
    out = {"BUILDPLATFORM": build, "BUILDOS": os_, "BUILDARCH": arch, "BUILDVARIANT": variant,
           "TARGETPLATFORM": build, "TARGETOS": os_, "TARGETARCH": arch,
           "TARGETVARIANT": variant}
    return out


def check_platform(value, what):
    """Only the host's platform can be built (no emulation here)."""
    if not value:
        return
    os_, arch, _ = host_platform()
    parts = value.lower().split("/")
    want_arch = ARCH.get(parts[1], parts[1]) if len(parts) > 1 else arch
    if parts[0] != os_ or want_arch != arch:
        raise InvalidArgument(f"{what}: cannot build for platform {value!r} on {os_}/{arch}: "
                              "there is no emulation")


class State:
    """The image of a stage as it is being built.

    ``layers`` holds, per diff_id, a stored diff_id or a :class:`StagedLayer`
    not yet published; ``layer_dirs`` the unpacked dirs of both."""

    def __init__(self, config, layers, layer_dirs, args=None):
        self.config = config
        self.layers = list(layers)
        self.layer_dirs = list(layer_dirs)
        self.args = dict(args or {})          # ARGs in scope: name -> value or None
        self.cmd_set = False
        self.image_id = None                  # the stored image of exactly this state
        self.base_layers = self.base_history = 0     # the stage's FROM's (for squash)

    @classmethod
    def scratch(cls):
        os_, arch, _ = host_platform()
        return cls({"architecture": arch, "os": os_, "config": {"Env": [
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]},
            "rootfs": {"type": "layers", "diff_ids": []}, "history": []}, [], [])

    @classmethod
    def of_record(cls, record):
        config = copy.deepcopy(record.config)
        for old in ("container", "container_config", "docker_version"):
            config.pop(old, None)
        st = cls(config, record.diff_ids, record.layer_dirs)
        st.image_id = record.id
        return st

    @property
    def image_config(self):
        return self.config.setdefault("config", {})

    @property
    def env(self):
        """The image's ENV as a dict."""
        out = {}
        for item in self.image_config.get("Env") or []:
            key, _, value = item.partition("=")
            out[key] = value
        return out

    def scope(self):
        """Variables for substitution: build args, then ENV over them."""
        out = {k: v for k, v in self.args.items() if v is not None}
        out.update(self.env)
        return out

    def shell(self):
        return list(self.image_config.get("Shell") or DEFAULT_SHELL)

    def diff_ids(self):
        return [x.diff_id if isinstance(x, StagedLayer) else x for x in self.layers]

    def key(self):
        """Digest of what this state is (timestamps left out)."""
        history = [h.get("created_by", "") for h in self.config.get("history") or []]
        cfg = {k: v for k, v in self.config.items() if k not in ("created", "history",
                                                                  "rootfs")}
        return digest(cfg, self.diff_ids(), history)

    def set_env(self, key, value):
        """Replace ``key`` where it is (docker's order), or append it."""
        env = list(self.image_config.get("Env") or [])
        for i, item in enumerate(env):
            if item.partition("=")[0] == key:
                env[i] = f"{key}={value}"
                break
        else:
            env.append(f"{key}={value}")
        self.image_config["Env"] = env
        self.image_id = None

    def add_history(self, created_by, created, empty_layer, comment="buildkit.dockerfile.v0"):
        entry = {"created": created, "created_by": created_by, "comment": comment}
        if empty_layer:
            entry["empty_layer"] = True
        self.config.setdefault("history", []).append(entry)
        self.image_id = None

    def add_layer(self, layer, layer_dir):
        self.layers.append(layer)
        self.layer_dirs.append(layer_dir)
        self.image_id = None

    def copy(self):
        st = State(copy.deepcopy(self.config), self.layers, self.layer_dirs, self.args)
        st.cmd_set, st.image_id = self.cmd_set, self.image_id
        st.base_layers, st.base_history = self.base_layers, self.base_history
        return st
