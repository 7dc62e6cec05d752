"""Facts about the running kernel that decide whether objects can be loaded here."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

from buildbpf.objects.sections import NET_ADMIN_TYPES, PERFMON_TYPES

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39
CAP_NET_ADMIN = 12

# bpf(2) syscall numbers; the libc has no wrapper.
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "s390x": 351, "ppc64le": 361}
_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SOCKET_FILTER = 1
# offsets in union bpf_attr's BPF_PROG_LOAD struct (include/uapi/linux/bpf.h)
_EXPECTED_ATTACH_TYPE, _ATTACH_BTF_ID = 68, 108
# r0 = 0; exit  — the smallest program every kernel with bpf(2) accepts
_RETURN_ZERO = bytes.fromhex("b7000000000000009500000000000000")


@dataclass(frozen=True)
class LoadProbe:
    """Result of loading a two-instruction program into the kernel."""

    ok: bool
    detail: str
    errno: int | None = None  # why the kernel refused


def release() -> str:
    """The kernel release (`uname -r`)."""
    return platform.release()


def has_vmlinux_btf() -> bool:
    """Whether the kernel exposes its own BTF (needed by fentry/fexit/tp_btf/lsm and CO-RE)."""
    return VMLINUX_BTF.is_file()


def bpffs_mounts(mounts: str | None = None) -> list[str]:
    """Mount points of the BPF filesystem (for pinning)."""
    if mounts is None:
        try:
            mounts = Path("/proc/mounts").read_text()
        except OSError:
            return []
    points = []
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3 and fields[2] == "bpf":
            points.append(fields[1])
    return points


def effective_capabilities(status: str | None = None) -> int:
    """This process's effective capability mask, from /proc/self/status."""
    if status is None:
        try:
            status = Path("/proc/self/status").read_text()
        except OSError:
            return 0
    for line in status.splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def function_btf_id(name: str) -> int | None:
    """The id of the function `name` in this kernel's BTF, or None (no BTF, no such function)."""
    from buildbpf.objects import btf

    try:
        data = VMLINUX_BTF.read_bytes()
    except OSError:
        return None
    types = btf.parse(data, little_endian=sys.byteorder == "little").types
    return next((t.id for t in types if t.kind == "FUNC" and t.name == name), None)


def can_load_by_capabilities(caps: int, euid: int) -> bool:
    """Root, CAP_SYS_ADMIN, or CAP_BPF together with CAP_PERFMON (kernel 5.8+)."""
    if euid == 0 or caps & (1 << CAP_SYS_ADMIN):
        return True
    return bool(caps & (1 << CAP_BPF)) and bool(caps & (1 << CAP_PERFMON))


def try_load(
    prog_type: int = _BPF_PROG_TYPE_SOCKET_FILTER, attach_type: int = 0, attach_btf_id: int = 0
) -> LoadProbe:
    """Ask the kernel to verify and load `r0 = 0; exit`; the definitive privilege check.

    Another `prog_type` (BPF_PROG_TYPE_*) asks whether this kernel has that program type;
    tracing and LSM programs also need their `attach_type` and the kernel BTF id they attach to.
    """
    number = _BPF_SYSCALL.get(platform.machine())
    if number is None:
        return LoadProbe(False, f"bpf(2) syscall number unknown for {platform.machine()}")
    libc = ctypes.CDLL(None, use_errno=True)
    insns = ctypes.create_string_buffer(_RETURN_ZERO, len(_RETURN_ZERO))
    license_ = ctypes.create_string_buffer(b"GPL")
    attr = ctypes.create_string_buffer(128)
    struct.pack_into(
        "=IIQQ",
        attr,
        0,
        prog_type,
        len(_RETURN_ZERO) // 8,
        ctypes.addressof(insns),
        ctypes.addressof(license_),
    )
    struct.pack_into("=I", attr, _EXPECTED_ATTACH_TYPE, attach_type)
    struct.pack_into("=I", attr, _ATTACH_BTF_ID, attach_btf_id)
    fd = libc.syscall(number, _BPF_PROG_LOAD, attr, ctypes.sizeof(attr))
    if fd < 0:
        err = ctypes.get_errno()
        return LoadProbe(
            False,
            f"bpf(BPF_PROG_LOAD) failed: {errno.errorcode.get(err, err)} ({os.strerror(err)})",
            err,
        )
    os.close(fd)
    return LoadProbe(True, "the kernel loaded a test program")


def refusal(aya_type: str, lsms: tuple[str, ...] | None, caps: int | None) -> str:
    """Why a privileged load of an `aya_type` program got EPERM before the verifier ran.

    The one reading of that answer, for `check --load` (a program's verdict) and `doctor` (a
    test program of the type); `caps` None: the capabilities are not known.
    """
    def lacks(cap: int) -> bool:
        return caps is not None and not caps & (1 << cap | 1 << CAP_SYS_ADMIN)

    if aya_type == "Lsm" and lsms is not None and "bpf" not in lsms:
        return (
            f"this kernel's BPF LSM is not active (active LSMs: {','.join(lsms)}), so it "
            'refuses LSM programs before verifying them; boot with "bpf" in lsm= to check here'
        )
    if aya_type in PERFMON_TYPES and lacks(CAP_PERFMON):
        return "loading it needs CAP_PERFMON, which this process lacks"
    if aya_type in NET_ADMIN_TYPES and lacks(CAP_NET_ADMIN):
        return "loading it needs CAP_NET_ADMIN, which this process lacks"
    active = f" (active LSMs: {','.join(lsms)})" if lsms else ""
    return (
        f"this kernel refuses {aya_type} programs before verifying them (EPERM with every "
        f"capability needed): a security policy forbids them here{active}"
    )
