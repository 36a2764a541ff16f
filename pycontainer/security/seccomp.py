"""seccomp profiles in Docker's JSON format -> BPF (compiled once, cached).

Python applies the profile's policy (which rules hold for this container's
capabilities and this machine's architecture); the C core compiles with
libseccomp in the parent, and the child only installs the program last
before exec.
"""
import hashlib
import json
import os
import platform

from .. import _core
from ..errors import InvalidArgument
from .default_profile import PROFILE as DEFAULT_PROFILE

ACTIONS = {"SCMP_ACT_KILL": 0x00000000, "SCMP_ACT_KILL_THREAD": 0x00000000,
           "SCMP_ACT_KILL_PROCESS": 0x80000000, "SCMP_ACT_TRAP": 0x00030000,
           "SCMP_ACT_ERRNO": 0x00050000, "SCMP_ACT_TRACE": 0x7FF00000,
           "SCMP_ACT_LOG": 0x7FFC0000, "SCMP_ACT_ALLOW": 0x7FFF0000}
OPS = {"SCMP_CMP_NE": 1, "SCMP_CMP_LT": 2, "SCMP_CMP_LE": 3, "SCMP_CMP_EQ": 4,
       "SCMP_CMP_GE": 5, "SCMP_CMP_GT": 6, "SCMP_CMP_MASKED_EQ": 7}
# Docker's arch names in includes/excludes -> libseccomp's
_ARCH_ALIASES = {"amd64": "x86_64", "x86_64": "x86_64", "x86": "x86", "x32": "x32",
                 "arm64": "aarch64", "aarch64": "aarch64", "arm": "arm"}
EPERM = 1


def _native():
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(m, m)


def _action(name, errno_ret):
    if name not in ACTIONS:
        raise InvalidArgument(f"seccomp: unknown action {name!r}")
    value = ACTIONS[name]
    if name in ("SCMP_ACT_ERRNO", "SCMP_ACT_TRACE"):
        value |= (EPERM if errno_ret is None else int(errno_ret)) & 0xFFFF
    return value


def _kernel():
    return tuple(int(x) for x in platform.release().split("-")[0].split(".")[:2])


def _applies(rule, caps, arch):
    inc, exc = rule.get("includes") or {}, rule.get("excludes") or {}
    if inc.get("caps") and not all(c in caps for c in inc["caps"]):
        return False
    if inc.get("arches") and arch not in inc["arches"]:
        return False
    if inc.get("minKernel"):
        want = tuple(int(x) for x in str(inc["minKernel"]).split(".")[:2])
        if _kernel() < want:
            return False
    if exc.get("caps") and any(c in caps for c in exc["caps"]):
        return False
    if exc.get("arches") and arch in exc["arches"]:
        return False
    return True


def _arches(profile):
    native = "SCMP_ARCH_" + platform.machine().upper()
    out = []
    for entry in profile.get("archMap") or []:
        if entry.get("architecture") == native:
            out = [entry["architecture"]] + list(entry.get("subArchitectures") or [])
    out += profile.get("architectures") or []
    names = []
    for a in out or [native]:
        n = a.replace("SCMP_ARCH_", "").lower()
        names.append(n)
    return names


def resolve(profile, cap_names):
    """(default action, arches, [rule]) for a container with these caps."""
    if not isinstance(profile, dict) or "defaultAction" not in profile:
        raise InvalidArgument("seccomp profile: not a Docker-format profile (no defaultAction)")
    default = _action(profile["defaultAction"], profile.get("defaultErrnoRet"))
    caps, arch = set(cap_names), _native()
    rules = []
    for rule in profile.get("syscalls") or []:
        if not _applies(rule, caps, arch):
            continue
        names = rule.get("names") or ([rule["name"]] if rule.get("name") else [])
        action = _action(rule.get("action", "SCMP_ACT_ALLOW"), rule.get("errnoRet"))
        args = []
        for a in rule.get("args") or []:
            if a.get("op") not in OPS:
                raise InvalidArgument(f"seccomp: unknown comparison {a.get('op')!r}")
            args.append((int(a["index"]), OPS[a["op"]], int(a.get("value", 0)),
                         int(a.get("valueTwo", 0))))
        for name in names:
            if len(name) >= 48:
                raise InvalidArgument(f"seccomp: syscall name too long: {name!r}")
            rules.append((name, action, args))
    return default, _arches(profile), rules


_cache = {}


def compile_profile(profile, cap_names):
    """BPF bytes for ``profile`` (a dict) and these caps; cached."""
    key = hashlib.sha256(json.dumps([profile, sorted(cap_names)], sort_keys=True).encode()).digest()
    bpf = _cache.get(key)
    if bpf is not None:
        return bpf
    default, arches, rules = resolve(profile, cap_names)
    ffi, lib = _core.ffi, _core.lib
    arr = ffi.new("struct pyc_seccomp_rule[]", max(len(rules), 1))
    for i, (name, action, args) in enumerate(rules):
        r = arr[i]
        r.name = name.encode()
        r.action = action
        r.nargs = len(args)
        for j, (index, op, value, value2) in enumerate(args[:6]):
            r.args[j].index, r.args[j].op = index, op
            r.args[j].value, r.args[j].value2 = value, value2
    arch_blob = b"".join(a.encode() + b"\0" for a in arches)
    cap = 1 << 18
    out = ffi.new("uint8_t[]", cap)
    out_len = ffi.new("uint32_t *")
    _core.check(lib.pyc_seccomp_compile(default, arch_blob, len(arch_blob), arr, len(rules),
                                        out, cap, out_len), "compile the seccomp profile")
    bpf = bytes(ffi.buffer(out, out_len[0]))
    _cache[key] = bpf
    return bpf


_by_key = {}


def compile_cached(key, load_profile, cap_names):
    """compile_profile, keyed by a cheap identity (name or path + mtime)."""
    k = (key, tuple(cap_names))
    bpf = _by_key.get(k)
    if bpf is None:
        bpf = _by_key[k] = compile_profile(load_profile(), cap_names)
    return bpf


def load(spec):
    """``security_opt`` value after ``seccomp=``: ``unconfined`` -> None, a
    path to a Docker JSON profile -> its dict; the default otherwise."""
    if spec in (None, "", "default", "builtin"):
        return DEFAULT_PROFILE
    if spec == "unconfined":
        return None
    try:
        with open(spec) as f:
            return json.load(f)
    except OSError as err:
        raise InvalidArgument(f"seccomp profile {spec}: {err.strerror}") from err
    except ValueError as err:
        raise InvalidArgument(f"seccomp profile {spec} is not JSON: {err}") from err


def profile_path_ok(spec):
    return spec in ("unconfined", "default") or os.path.isfile(spec)
