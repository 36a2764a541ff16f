"""The spec's ``linux.seccomp`` -> BPF.

The OCI shape (``defaultAction``, ``architectures``, ``syscalls[]`` with
``names``, ``action``, ``errnoRet``, ``args``) is Docker's profile format
without its ``includes``/``excludes``, so the security room's compiler
takes it as it is; what it cannot do is refused here.
"""
from ..errors import InvalidArgument
from ..security import seccomp as compiler

UNSUPPORTED_ACTIONS = ("SCMP_ACT_NOTIFY",)
HARMLESS_FLAGS = ("SECCOMP_FILTER_FLAG_TSYNC",)   # the init is single-threaded


def compile(sc, proc):
    if not isinstance(sc, dict) or "defaultAction" not in sc:
        raise InvalidArgument("config.json: linux.seccomp needs a defaultAction")
    if sc.get("listenerPath"):
        raise InvalidArgument("config.json: linux.seccomp.listenerPath (seccomp notify) is "
                              "not supported by this runtime")
    flags = [f for f in sc.get("flags") or [] if f not in HARMLESS_FLAGS]
    if flags:
        raise InvalidArgument(f"config.json: linux.seccomp.flags {flags} are not supported")
    actions = [sc["defaultAction"]] + [r.get("action") for r in sc.get("syscalls") or []]
    bad = [a for a in actions if a in UNSUPPORTED_ACTIONS]
    if bad:
        raise InvalidArgument(f"config.json: seccomp action {bad[0]} is not supported")
    profile = {"defaultAction": sc["defaultAction"],
               "defaultErrnoRet": sc.get("defaultErrnoRet"),
               "architectures": sc.get("architectures") or [],
               "syscalls": [{k: v for k, v in r.items() if k in ("names", "action", "errnoRet",
                                                                 "args")}
                            for r in sc.get("syscalls") or []]}
    return compiler.compile_profile(profile, [])
