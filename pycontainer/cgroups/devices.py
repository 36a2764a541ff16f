"""cgroup v2 device access: the allow list as an eBPF program.

cgroup v2 has no devices.allow file; access is decided by a
BPF_PROG_TYPE_CGROUP_DEVICE program attached to the cgroup. This module
assembles one from the same rules the v1 writer uses ("c 1:3 rwm",
"b *:* m", "a *:* rwm") and the C core loads and attaches it.
"""
import os
import struct

from .. import _core

_INSN = struct.Struct("<BBhi")
# opcodes
LDX_W, AND_K, RSH_K, MOV_X, MOV_K, JNE_K, EXIT = 0x61, 0x57, 0x77, 0xBF, 0xB7, 0x55, 0x95
TYPES = {"b": 1, "c": 2}
ACCESS = {"m": 1, "r": 2, "w": 4}


def _insn(code, dst=0, src=0, off=0, imm=0):
    return _INSN.pack(code, (src << 4) | dst, off, imm)


def parse_rule(rule):
    """``"c 1:3 rwm"`` -> (type or None, major or None, minor or None, access bits)."""
    kind, numbers, access = rule.split()
    major, _, minor = numbers.partition(":")
    bits = 0
    for ch in access:
        bits |= ACCESS[ch]
    return (TYPES.get(kind), None if major == "*" else int(major),
            None if minor == "*" else int(minor), bits)


def _rule_block(kind, major, minor, bits):
    """Checks of one rule; each failed check jumps past the block's end."""
    checks = []
    if kind is not None:
        checks.append(("type", kind))
    if bits != 7:
        checks.append(("access", bits))
    if major is not None:
        checks.append(("major", major))
    if minor is not None:
        checks.append(("minor", minor))
    body = []
    for what, value in checks:
        if what == "type":
            body.append([_insn(JNE_K, dst=2, imm=value)])
        elif what == "access":
            body.append([_insn(MOV_X, dst=1, src=3), _insn(AND_K, dst=1, imm=~bits & 7),
                         _insn(JNE_K, dst=1, imm=0)])
        elif what == "major":
            body.append([_insn(JNE_K, dst=4, imm=value)])
        else:
            body.append([_insn(JNE_K, dst=5, imm=value)])
    tail = [_insn(MOV_K, dst=0, imm=1), _insn(EXIT)]
    out = []
    remaining = sum(len(b) for b in body) + len(tail)
    for group in body:
        remaining -= len(group)
        for i, ins in enumerate(group):
            if i == len(group) - 1:       # the jump: skip the rest of this block
                code, regs, _, imm = _INSN.unpack(ins)
                ins = _INSN.pack(code, regs, remaining, imm)
            out.append(ins)
    return out + tail


def program(rules):
    """eBPF instructions (bytes) allowing exactly ``rules``; everything else denied."""
    prologue = [
        _insn(LDX_W, dst=2, src=1, off=0), _insn(AND_K, dst=2, imm=0xFFFF),   # type
        _insn(LDX_W, dst=3, src=1, off=0), _insn(RSH_K, dst=3, imm=16),       # access
        _insn(LDX_W, dst=4, src=1, off=4), _insn(LDX_W, dst=5, src=1, off=8),  # major, minor
    ]
    body = []
    for rule in rules:
        kind, major, minor, bits = parse_rule(rule)
        body += _rule_block(kind, major, minor, bits)
        if kind is None and major is None and minor is None and bits == 7:
            return b"".join(prologue + body)   # allows all: the rest is unreachable
    return b"".join(prologue + body + [_insn(MOV_K, dst=0, imm=0), _insn(EXIT)])


def attach(cgroup_dir, rules):
    """Load the program for ``rules`` and attach it to the cgroup2 directory."""
    code = program(rules)
    ffi, lib = _core.ffi, _core.lib
    log = ffi.new("char[]", 65536)
    fd = lib.pyc_bpf_device_load(code, len(code) // 8, log, 65536)
    if fd < 0:
        msg = ffi.string(log).decode(errors="replace").strip().splitlines()[-1:] or [""]
        _core.check(fd, f"load the device program ({msg[0]})", cgroup_dir)
    try:
        cg = os.open(cgroup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            _core.check(lib.pyc_bpf_device_attach(cg, fd), "attach the device program", cgroup_dir)
        finally:
            os.close(cg)
    finally:
        os.close(fd)     # the attachment keeps the program alive with the cgroup
