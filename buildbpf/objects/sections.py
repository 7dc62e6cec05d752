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

# how a program gets attached, as the kernel must offer it (`objects.mechanisms` decides which
# this kernel has; `doctor` lists them in this order)
KPROBE, UPROBE, TRACEPOINT, RAW_TRACEPOINT = "kprobe", "uprobe", "tracepoint", "raw_tracepoint"
TRAMPOLINE, LSM, CGROUP, TC, XDP, PERF_EVENT = "fentry/fexit", "lsm", "cgroup", "tc", "xdp", "perf_event"
MECHANISMS = (KPROBE, UPROBE, TRACEPOINT, RAW_TRACEPOINT, TRAMPOLINE, LSM, CGROUP, TC, XDP, PERF_EVENT)


@dataclass(frozen=True)
class SectionKind:
    """One kind of program section, named by the first `/` piece of the section name."""

    name: str
    program_type: str = ""  # what `check` shows; "" shows "unknown"
    attach: str | None = None  # where REST is looked up (KALLSYMS, ...); None: not checked
    load_target: bool = False  # REST is the BTF target the kernel needs at load time
    aya: bool = True  # aya-obj knows the kind
    suffixes: frozenset[str | None] | None = None  # the REST Aya requires (None in it: none); None: any
    mechanism: str | None = None  # how it attaches (KPROBE, ...); None: no kernel facility to check


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
_KP, _UP, _TP, _RAW, _TR = KPROBE, UPROBE, TRACEPOINT, RAW_TRACEPOINT, TRAMPOLINE
SECTION_KINDS: dict[str, SectionKind] = {k.name: k for k in (
    _K("kprobe", "kprobe", KALLSYMS, mechanism=_KP), _K("kretprobe", "kretprobe", KALLSYMS, mechanism=_KP),
    _K("uprobe", "uprobe", BINARY, mechanism=_UP), _K("uprobe.s", "uprobe", mechanism=_UP),
    _K("uretprobe", "uretprobe", BINARY, mechanism=_UP), _K("uretprobe.s", "uretprobe", mechanism=_UP),
    _K("tracepoint", "tracepoint", TRACEFS, mechanism=_TP), _K("tp", "tracepoint", mechanism=_TP),
    _K("raw_tracepoint", "raw_tracepoint", mechanism=_RAW), _K("raw_tp", "raw_tracepoint", mechanism=_RAW),
    _K("tp_btf", "tracing (tp_btf)", KERNEL_BTF, load_target=True, mechanism=_TR),
    _K("fentry", "tracing (fentry)", KERNEL_BTF, load_target=True, mechanism=_TR),
    _K("fentry.s", "tracing (fentry)", load_target=True, mechanism=_TR),
    _K("fexit", "tracing (fexit)", KERNEL_BTF, load_target=True, mechanism=_TR),
    _K("fexit.s", "tracing (fexit)", load_target=True, mechanism=_TR),
    _K("fmod_ret", "tracing (fmod_ret)", KERNEL_BTF, load_target=True, aya=False, mechanism=_TR),
    _K("fmod_ret.s", "tracing (fmod_ret)", load_target=True, aya=False, mechanism=_TR),
    _K("lsm", "lsm", KERNEL_BTF, load_target=True, mechanism=LSM),
    _K("lsm.s", "lsm", load_target=True, mechanism=LSM), _K("lsm_cgroup", load_target=True, mechanism=LSM),
    _K("iter", "tracing (iter)", load_target=True), _K("iter.s", "tracing (iter)", load_target=True),
    _K("freplace", mechanism=_TR), _K("perf_event", "perf_event", mechanism=PERF_EVENT), _K("lirc_mode2"),
    _K("xdp", "xdp", suffixes=_XDP, mechanism=XDP), _K("xdp.frags", "xdp", suffixes=_XDP, mechanism=XDP),
    _K("socket", "socket_filter"), _K("sk_msg", "sk_msg"), _K("sockops", "sock_ops", mechanism=CGROUP),
    _K("sk_skb", "sk_skb", suffixes=frozenset({"stream_parser", "stream_verdict"})),
    _K("classifier", "sched_cls", mechanism=TC), _K("tc", "sched_cls", aya=False, mechanism=TC),
    _K("cgroup_skb", "cgroup_skb", suffixes=frozenset({"ingress", "egress"}), mechanism=CGROUP),
    _K("cgroup", "cgroup", suffixes=_CGROUP, mechanism=CGROUP),
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


def mechanism_of(section: str) -> str | None:
    """How a section's program attaches (`kretprobe/x` -> KPROBE), None when no kernel facility decides it."""
    row = kind_of(section)
    return row.mechanism if row is not None else None


def section_program_type(section: str) -> str:
    """The program type a section name stands for (`kprobe/do_unlinkat` -> kprobe)."""
    for prefix, kind in _PROGRAM_TYPES:
        if section == prefix or section.startswith(prefix + "/") or section.startswith(prefix + "."):
            return kind
    return "unknown"


def aya_accepts(section: str, *, before_0_12: bool = False) -> bool:
    """aya-obj's ProgramSection::from_str: the first `/` piece, and what some kinds require after it.

    `before_0_12`: as Aya before 0.12 read it (the loader of crates on aya-bpf, whose macros
    name sections `KIND/PROGRAM`, e.g. `xdp/myapp`): everything before the last `/` is the
    kind, the last piece is the program's name (PITFALLS #36).
    """
    if before_0_12:
        return _aya_before_0_12_accepts(section)
    kind, *rest = section.split("/")
    row = SECTION_KINDS.get(kind)
    if row is None or not row.aya:
        return False
    return row.suffixes is None or (rest[0] if rest else None) in row.suffixes


# Aya before 0.12 (`ProgramSection::from_str` of aya 0.11): KIND/NAME split at the last `/`
_OLD_KINDS = frozenset({
    "kprobe", "kretprobe", "uprobe", "uretprobe", "xdp", "xdp.frags", "tp_btf", "socket", "sk_msg",
    "sk_skb/stream_parser", "sk_skb/stream_verdict", "sockops", "classifier", "cgroup_skb/ingress",
    "cgroup_skb/egress", "cgroup/skb", "cgroup/sock", "cgroup/sysctl", "cgroup/dev", "cgroup/getsockopt",
    "cgroup/setsockopt", *(f"cgroup/{a}" for a in _CGROUP), "lirc_mode2", "perf_event", "raw_tp",
    "raw_tracepoint", "lsm", "lsm.s", "fentry", "fexit", "freplace", "sk_lookup",
})  # fmt: skip
_OLD_NAMED = {"sk_skb": {"stream_parser", "stream_verdict"}, "cgroup_skb": {"ingress", "egress"},
              "cgroup": _CGROUP}  # fmt: skip


def _aya_before_0_12_accepts(section: str) -> bool:
    kind, _, name = section.rpartition("/")
    if not kind:
        kind = name
    if kind.startswith(("tracepoint", "tp")) and kind != "tp_btf":
        return True
    if kind in _OLD_NAMED:
        return name in _OLD_NAMED[kind]
    return kind in _OLD_KINDS


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
