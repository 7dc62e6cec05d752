"""The program types `buildbpf init` can scaffold, with their options and defaults.

The code for each type lives in `templates/programs/<type>/` (`ebpf.rs.j2`: the eBPF
function; `user.rs.j2`: the userspace attach code); this table holds what the CLI and
the templates need to know about each type.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgramType:
    """One scaffoldable program type."""

    name: str
    summary: str
    options: dict[str, str] = field(default_factory=dict)  # option -> default
    help: dict[str, str] = field(default_factory=dict)  # option -> what it means
    # why the running kernel may not attach it (shown by tests and `init --list`)
    needs: str = ""


def syscall_symbol(syscall: str, arch: str | None = None) -> str:
    """The kernel symbol of a syscall's entry wrapper (x86_64: __x64_sys_NAME, 4.17+)."""
    arch = arch or platform.machine()
    prefix = {"x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "arm64": "__arm64_sys_",
              "riscv64": "__riscv_sys_", "s390x": "__s390x_sys_"}.get(arch, "sys_")  # fmt: skip
    return prefix + syscall


_SYSCALL = syscall_symbol("openat")

PROGRAM_TYPES: dict[str, ProgramType] = {
    p.name: p
    for p in (
        ProgramType(
            "xdp", "XDP: count packets on an interface", {"iface": "lo"}, {"iface": "interface to attach to"}
        ),
        ProgramType(
            "classifier",
            "tc classifier (cls_bpf) on an interface",
            {"iface": "lo", "direction": "ingress"},
            {"iface": "interface", "direction": "ingress or egress"},
        ),
        ProgramType(
            "cgroup_skb",
            "cgroup socket buffer filter",
            {"cgroup": "/sys/fs/cgroup", "direction": "ingress"},
            {"cgroup": "cgroup v2 directory", "direction": "ingress or egress"},
        ),
        ProgramType(
            "cgroup_sockopt",
            "cgroup getsockopt/setsockopt hook",
            {"cgroup": "/sys/fs/cgroup", "attach_type": "getsockopt"},
            {"cgroup": "cgroup v2 directory", "attach_type": "getsockopt or setsockopt"},
        ),
        ProgramType(
            "cgroup_sysctl",
            "cgroup sysctl access hook",
            {"cgroup": "/sys/fs/cgroup"},
            {"cgroup": "cgroup v2 directory"},
        ),
        ProgramType(
            "fentry",
            "fentry: trace a kernel function's entry (BTF)",
            {"function": "do_unlinkat"},
            {"function": "kernel function with BTF"},
            needs="kernel BTF (5.5+)",
        ),
        ProgramType(
            "fexit",
            "fexit: trace a kernel function's return (BTF)",
            {"function": "do_unlinkat"},
            {"function": "kernel function with BTF"},
            needs="kernel BTF (5.5+)",
        ),
        ProgramType(
            "kprobe",
            "kprobe on a kernel function",
            {"function": _SYSCALL},
            {"function": "kernel symbol (syscalls: the arch wrapper, e.g. __x64_sys_openat)"},
            needs="CONFIG_KPROBES",
        ),
        ProgramType(
            "kretprobe",
            "kretprobe on a kernel function",
            {"function": _SYSCALL},
            {"function": "kernel symbol"},
            needs="CONFIG_KPROBES",
        ),
        ProgramType(
            "lsm",
            "LSM hook (BPF LSM)",
            {"hook": "file_open"},
            {"hook": "LSM hook name"},
            needs="CONFIG_BPF_LSM and lsm=bpf on the kernel command line",
        ),
        ProgramType(
            "perf_event",
            "perf event sampler (CPU clock)",
            {"frequency": "1"},
            {"frequency": "samples per second"},
        ),
        ProgramType(
            "raw_tracepoint",
            "raw tracepoint",
            {"tracepoint": "sys_enter"},
            {"tracepoint": "raw tracepoint name"},
        ),
        ProgramType(
            "sk_msg",
            "sk_msg on a sockhash",
            {},
            {},
        ),
        ProgramType(
            "sock_ops",
            "sock_ops on a cgroup",
            {"cgroup": "/sys/fs/cgroup"},
            {"cgroup": "cgroup v2 directory"},
        ),
        ProgramType("socket_filter", "socket filter on a socket", {}, {}),
        ProgramType(
            "tp_btf",
            "BTF-enabled tracepoint",
            {"tracepoint": "sched_process_exec"},
            {"tracepoint": "BTF tracepoint name"},
            needs="kernel BTF (5.5+)",
        ),
        ProgramType(
            "tracepoint",
            "tracepoint",
            {"category": "syscalls", "tracepoint": "sys_enter_openat"},
            {"category": "tracefs category", "tracepoint": "tracepoint name"},
        ),
        ProgramType(
            "uprobe",
            "uprobe on a user-space function",
            {"binary": "libc", "function": "getpid"},
            {"binary": "path or library name", "function": "symbol"},
            needs="CONFIG_UPROBE_EVENTS",
        ),
        ProgramType(
            "uretprobe",
            "uretprobe on a user-space function",
            {"binary": "libc", "function": "getpid"},
            {"binary": "path or library name", "function": "symbol"},
            needs="CONFIG_UPROBE_EVENTS",
        ),
    )
}
