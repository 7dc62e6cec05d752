"""Facts about the running kernel that decide whether objects can be loaded here."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct
from dataclasses import dataclass
from pathlib import Path

VMLINUX_BTF = Path("/sys/kernel/btf/vmlinux")
CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39

# bpf(2) syscall numbers; the libc has no wrapper.
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280, "s390x": 351, "ppc64le": 361}
_BPF_PROG_LOAD = 5
_BPF_PROG_TYPE_SOCKET_FILTER = 1
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


def can_load_by_capabilities(caps: int, euid: int) -> bool:
    """Root, CAP_SYS_ADMIN, or CAP_BPF together with CAP_PERFMON (kernel 5.8+)."""
    if euid == 0 or caps & (1 << CAP_SYS_ADMIN):
        return True
    return bool(caps & (1 << CAP_BPF)) and bool(caps & (1 << CAP_PERFMON))


def try_load(prog_type: int = _BPF_PROG_TYPE_SOCKET_FILTER) -> LoadProbe:
    """Ask the kernel to verify and load `r0 = 0; exit`; the definitive privilege check.

    Another `prog_type` (BPF_PROG_TYPE_*) asks whether this kernel has that program type.
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
