"""The one table of program sections: what each section name means to Aya, the kernel and `check`.

A program section is named `KIND` or `KIND/REST` (`kprobe/do_unlinkat`, `xdp`,
`cgroup/connect4`). Per KIND the table says: whether aya-obj 0.3.0's
`ProgramSection::from_str` accepts it (and which REST it requires), the program type
`check` shows, where `check` looks up the attach target REST names, and whether the
kernel needs REST as the BTF attach target at load time. The syscall entry wrappers and
the capabilities the kernel asks per program type live here too.
"""

from __future__ import annotations

import platform
from dataclasses import dataclass

# where `check` looks an attach target up: /proc/kallsyms, the kernel's BTF, tracefs, the
# uprobe's binary
KALLSYMS, KERNEL_BTF, TRACEFS, BINARY = "kallsyms", "kernel BTF", "tracefs", "binary"


@dataclass(frozen=True)
class SectionKind:
    """One kind of program section, named by the first `/` piece of the section name."""

    name: str
    program_type: str = ""  # what `check` shows; "" shows "unknown"
    attach: str | None = None  # where REST is looked up (KALLSYMS, ...); None: not checked
    load_target: bool = False  # REST is the BTF target the kernel needs at load time
    aya: bool = True  # aya-obj knows the kind
    suffixes: frozenset[str | None] | None = None  # the REST Aya requires (None in it: none); None: any


_XDP = frozenset({None, "cpumap", "devmap"})
# cgroup/REST: what Aya accepts after `cgroup/`, and the program types `check` names
_CGROUP = frozenset({
    "skb", "sysctl", "dev", "getsockopt", "setsockopt", "sock", "post_bind4", "post_bind6", "sock_create",
    "sock_release", "bind4", "bind6", "connect4", "connect6", "getpeername4", "getpeername6",
    "getsockname4", "getsockname6", "sendmsg4", "sendmsg6", "recvmsg4", "recvmsg6",
})  # fmt: skip
_CGROUP_TYPES = {
    "skb": "cgroup_skb", "sysctl": "cgroup_sysctl", "getsockopt": "cgroup_sockopt",
    "setsockopt": "cgroup_sockopt", "sock": "cgroup_sock",
}  # fmt: skip

_K = SectionKind
SECTION_KINDS: dict[str, SectionKind] = {k.name: k for k in (
    _K("kprobe", "kprobe", KALLSYMS), _K("kretprobe", "kretprobe", KALLSYMS),
    _K("uprobe", "uprobe", BINARY), _K("uprobe.s", "uprobe"),
    _K("uretprobe", "uretprobe", BINARY), _K("uretprobe.s", "uretprobe"),
    _K("tracepoint", "tracepoint", TRACEFS), _K("tp", "tracepoint"),
    _K("raw_tracepoint", "raw_tracepoint"), _K("raw_tp", "raw_tracepoint"),
    _K("tp_btf", "tracing (tp_btf)", KERNEL_BTF, load_target=True),
    _K("fentry", "tracing (fentry)", KERNEL_BTF, load_target=True),
    _K("fentry.s", "tracing (fentry)", load_target=True),
    _K("fexit", "tracing (fexit)", KERNEL_BTF, load_target=True),
    _K("fexit.s", "tracing (fexit)", load_target=True),
    _K("fmod_ret", "tracing (fmod_ret)", KERNEL_BTF, load_target=True, aya=False),
    _K("fmod_ret.s", "tracing (fmod_ret)", load_target=True, aya=False),
    _K("lsm", "lsm", KERNEL_BTF, load_target=True), _K("lsm.s", "lsm", load_target=True),
    _K("lsm_cgroup", load_target=True),
    _K("iter", "tracing (iter)", load_target=True), _K("iter.s", "tracing (iter)", load_target=True),
    _K("freplace"), _K("perf_event", "perf_event"), _K("lirc_mode2"),
    _K("xdp", "xdp", suffixes=_XDP), _K("xdp.frags", "xdp", suffixes=_XDP),
    _K("socket", "socket_filter"), _K("sk_msg", "sk_msg"), _K("sockops", "sock_ops"),
    _K("sk_skb", "sk_skb", suffixes=frozenset({"stream_parser", "stream_verdict"})),
    _K("classifier", "sched_cls"), _K("tc", "sched_cls", aya=False),
    _K("cgroup_skb", "cgroup_skb", suffixes=frozenset({"ingress", "egress"})),
    _K("cgroup", "cgroup", suffixes=_CGROUP),
    _K("flow_dissector"), _K("sk_lookup"), _K("sk_reuseport", suffixes=frozenset({None, "migrate"})),
    _K("syscall", "syscall", aya=False),
)}  # fmt: skip

# Names a function may not have: aya-ebpf's macros put it in a section of that name, and
# the section's symbol collides with the function's at link time ("symbol 'xdp' is
# already defined"). Scaffolding adds its own program type names.
SECTION_NAMES = frozenset(SECTION_KINDS) | {"maps", "license"}

# `check`'s program types, most specific first: `cgroup/skb` before `cgroup`
_PROGRAM_TYPES = (
    *((f"cgroup/{rest}", kind) for rest, kind in _CGROUP_TYPES.items()),
    *((k.name, k.program_type) for k in SECTION_KINDS.values() if k.program_type),
)


def kind_of(section: str) -> SectionKind | None:
    """The table's row for a section name (`kprobe/x` -> kprobe), None when unknown."""
    return SECTION_KINDS.get(section.split("/", 1)[0])


def section_program_type(section: str) -> str:
    """The program type a section name stands for (`kprobe/do_unlinkat` -> kprobe)."""
    for prefix, kind in _PROGRAM_TYPES:
        if section == prefix or section.startswith(prefix + "/") or section.startswith(prefix + "."):
            return kind
    return "unknown"


def aya_accepts(section: str) -> bool:
    """aya-obj's ProgramSection::from_str: the first `/` piece, and what some kinds require after it."""
    kind, *rest = section.split("/")
    row = SECTION_KINDS.get(kind)
    if row is None or not row.aya:
        return False
    return row.suffixes is None or (rest[0] if rest else None) in row.suffixes


def load_target(section: str) -> str | None:
    """The BTF attach target the kernel needs at load time (`fentry/do_unlinkat` -> do_unlinkat)."""
    kind, _, rest = section.partition("/")
    row = SECTION_KINDS.get(kind)
    return rest if row is not None and row.load_target and rest else None


# The kernel's syscall entry wrappers per arch (4.17+, x86_64: __x64_sys_NAME)
SYSCALL_WRAPPERS = {
    "x86_64": "__x64_sys_", "aarch64": "__arm64_sys_", "arm64": "__arm64_sys_",
    "riscv64": "__riscv_sys_", "s390x": "__s390x_sys_",
}  # fmt: skip
# what a syscall's kernel symbols start with, wrappers first: stripped to find the syscall
SYSCALL_PREFIXES = (
    *dict.fromkeys(SYSCALL_WRAPPERS.values()), "__se_sys_", "__do_sys_", "__sys_", "sys_", "ksys_",
)  # fmt: skip


def syscall_wrapper(arch: str | None = None) -> str | None:
    """This arch's syscall entry wrapper prefix (x86_64: `__x64_sys_`), None when unknown."""
    return SYSCALL_WRAPPERS.get(arch or platform.machine())


# the kernel's is_net_admin_prog_type / is_perfmon_prog_type (kernel/bpf/syscall.c), in
# Aya's names for program types (its ProgramType, as the verifier helper reports them)
NET_ADMIN_TYPES = frozenset({
    "SchedClassifier", "SchedAction", "Xdp", "LwtInput", "LwtOutput", "LwtXmit", "SockOps",
    "SkSkb", "SkMsg", "FlowDissector", "CgroupDevice", "CgroupSock", "CgroupSkb", "CgroupSockAddr",
    "CgroupSockopt", "CgroupSysctl", "SkLookup", "SkReuseport", "Netfilter",
})  # fmt: skip
PERFMON_TYPES = frozenset({
    "KProbe", "TracePoint", "PerfEvent", "RawTracePoint", "RawTracePointWritable", "Tracing",
    "StructOps", "Extension", "Lsm",
})  # fmt: skip
