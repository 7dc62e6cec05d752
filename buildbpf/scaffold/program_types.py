"""The program types `buildbpf init` can scaffold, with their options and defaults.

The code for each type lives in `templates/programs/<type>/` (`ebpf.rs.j2`: the eBPF
function; `user.rs.j2`: the userspace attach code); this table holds what the CLI and
the templates need to know about each type.
"""

from __future__ import annotations

import difflib
import platform
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from buildbpf.errors import ConfigError

_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class OptionRule:
    """What one option's value must be. Values end up in Rust source (string literals, attribute
    arguments, comments), so `init` accepts only what the rule allows (issue #11, item 6)."""

    what: str  # "an interface name"
    rule: str  # the rule in words, for the error message
    pattern: str | None = None  # the whole value must match it
    choices: tuple[str, ...] = ()
    extra: Callable[[str], bool] | None = None  # a further check the pattern cannot express

    def accepts(self, value: str) -> bool:
        """Whether `value` follows the rule."""
        if self.choices and value not in self.choices:
            return False
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return False
        return self.extra is None or self.extra(value)


def _printable_path(value: str) -> bool:
    # No control characters, line breaks or lone surrogates (undecodable bytes from argv):
    # any of those in a path is a mistake or an attack.
    return 0 < len(value) <= 4096 and value.isprintable()


def _positive_u64(value: str) -> bool:
    return 1 <= int(value) <= _U64_MAX


def one_of(*choices: str) -> OptionRule:
    """A rule that accepts exactly `choices`."""
    listed = ", ".join(choices)
    return OptionRule(f"one of {listed}", f"must be one of: {listed}", choices=choices)


# The kernel's dev_valid_name() allows more (anything but `/`, `:` and white space), but
# names outside this set do not occur in practice and need quoting everywhere.
INTERFACE = OptionRule(
    "an interface name",
    "1 to 15 characters from letters, digits and `_ . - @ +`, not `.` or `..`",
    pattern=r"[A-Za-z0-9_.@+-]{1,15}",
    extra=lambda value: value not in (".", ".."),
)
# /proc/kallsyms names: C identifiers with compiler suffixes such as `.isra.0`, `.cold`.
KERNEL_FUNCTION = OptionRule(
    "a kernel function name",
    "a C identifier, optionally followed by `.suffix` parts as in /proc/kallsyms "
    "(e.g. do_unlinkat, tcp_v4_connect.cold), at most 511 characters",
    pattern=r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*",
    extra=lambda value: len(value) <= 511,
)
IDENTIFIER = OptionRule(
    "a kernel identifier",
    "a C identifier: a letter or `_`, then letters, digits or `_` (at most 128 characters)",
    pattern=r"[A-Za-z_][A-Za-z0-9_]{0,127}",
)
# tracefs categories are TRACE_SYSTEM names, e.g. `syscalls`, `9p`, `xhci-hcd`.
TRACEPOINT_CATEGORY = OptionRule(
    "a tracepoint category",
    "letters, digits, `_` and `-`, not starting with `-` (at most 128 characters), "
    "a directory under events/ in tracefs",
    pattern=r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}",
)
USER_SYMBOL = OptionRule(
    "a symbol name",
    "a symbol of the binary's symbol table: letters, digits and `_ . $ @`, not starting "
    "with a digit or `@` (at most 1024 characters)",
    pattern=r"[A-Za-z_.$][A-Za-z0-9_.$@]{0,1023}",
)
PATH = OptionRule(
    "a path",
    "1 to 4096 printable characters (no control characters or line breaks)",
    extra=_printable_path,
)
FREQUENCY = OptionRule(
    "a positive integer",
    f"a whole number from 1 to {_U64_MAX}, digits only",
    pattern=r"[0-9]{1,20}",
    extra=_positive_u64,
)
DIRECTION = one_of("ingress", "egress")


@dataclass(frozen=True)
class ProgramType:
    """One scaffoldable program type."""

    name: str
    summary: str
    options: dict[str, str] = field(default_factory=dict)  # option -> default
    help: dict[str, str] = field(default_factory=dict)  # option -> what it means
    # why the running kernel may not attach it (shown by tests and `init --list`)
    needs: str = ""
    rules: dict[str, OptionRule] = field(default_factory=dict)  # option -> what its value must be


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
            "xdp",
            "XDP: count packets on an interface",
            {"iface": "lo"},
            {"iface": "interface to attach to"},
            rules={"iface": INTERFACE},
        ),
        ProgramType(
            "classifier",
            "tc classifier (cls_bpf) on an interface",
            {"iface": "lo", "direction": "ingress"},
            {"iface": "interface", "direction": "ingress or egress"},
            rules={"iface": INTERFACE, "direction": DIRECTION},
        ),
        ProgramType(
            "cgroup_skb",
            "cgroup socket buffer filter",
            {"cgroup": "/sys/fs/cgroup", "direction": "ingress"},
            {"cgroup": "cgroup v2 directory", "direction": "ingress or egress"},
            rules={"cgroup": PATH, "direction": DIRECTION},
        ),
        ProgramType(
            "cgroup_sockopt",
            "cgroup getsockopt/setsockopt hook",
            {"cgroup": "/sys/fs/cgroup", "attach_type": "getsockopt"},
            {"cgroup": "cgroup v2 directory", "attach_type": "getsockopt or setsockopt"},
            rules={"cgroup": PATH, "attach_type": one_of("getsockopt", "setsockopt")},
        ),
        ProgramType(
            "cgroup_sysctl",
            "cgroup sysctl access hook",
            {"cgroup": "/sys/fs/cgroup"},
            {"cgroup": "cgroup v2 directory"},
            rules={"cgroup": PATH},
        ),
        ProgramType(
            "fentry",
            "fentry: trace a kernel function's entry (BTF)",
            {"function": "do_unlinkat"},
            {"function": "kernel function with BTF"},
            rules={"function": KERNEL_FUNCTION},
            needs="kernel BTF (5.5+)",
        ),
        ProgramType(
            "fexit",
            "fexit: trace a kernel function's return (BTF)",
            {"function": "do_unlinkat"},
            {"function": "kernel function with BTF"},
            rules={"function": KERNEL_FUNCTION},
            needs="kernel BTF (5.5+)",
        ),
        ProgramType(
            "kprobe",
            "kprobe on a kernel function",
            {"function": _SYSCALL},
            {"function": "kernel symbol (syscalls: the arch wrapper, e.g. __x64_sys_openat)"},
            rules={"function": KERNEL_FUNCTION},
            needs="CONFIG_KPROBES",
        ),
        ProgramType(
            "kretprobe",
            "kretprobe on a kernel function",
            {"function": _SYSCALL},
            {"function": "kernel symbol"},
            rules={"function": KERNEL_FUNCTION},
            needs="CONFIG_KPROBES",
        ),
        ProgramType(
            "lsm",
            "LSM hook (BPF LSM)",
            {"hook": "file_open"},
            {"hook": "LSM hook name"},
            rules={"hook": IDENTIFIER},
            needs="CONFIG_BPF_LSM and lsm=bpf on the kernel command line",
        ),
        ProgramType(
            "perf_event",
            "perf event sampler (CPU clock)",
            {"frequency": "1"},
            {"frequency": "samples per second"},
            rules={"frequency": FREQUENCY},
        ),
        ProgramType(
            "raw_tracepoint",
            "raw tracepoint",
            {"tracepoint": "sys_enter"},
            {"tracepoint": "raw tracepoint name"},
            rules={"tracepoint": IDENTIFIER},
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
            rules={"cgroup": PATH},
        ),
        ProgramType("socket_filter", "socket filter on a socket", {}, {}),
        ProgramType(
            "tp_btf",
            "BTF-enabled tracepoint",
            {"tracepoint": "sched_process_exec"},
            {"tracepoint": "BTF tracepoint name"},
            rules={"tracepoint": IDENTIFIER},
            needs="kernel BTF (5.5+)",
        ),
        ProgramType(
            "tracepoint",
            "tracepoint",
            {"category": "syscalls", "tracepoint": "sys_enter_openat"},
            {"category": "tracefs category", "tracepoint": "tracepoint name"},
            rules={"category": TRACEPOINT_CATEGORY, "tracepoint": IDENTIFIER},
        ),
        ProgramType(
            "uprobe",
            "uprobe on a user-space function",
            {"binary": "libc", "function": "getpid"},
            {"binary": "path or library name", "function": "symbol"},
            rules={"binary": PATH, "function": USER_SYMBOL},
            needs="CONFIG_UPROBE_EVENTS",
        ),
        ProgramType(
            "uretprobe",
            "uretprobe on a user-space function",
            {"binary": "libc", "function": "getpid"},
            {"binary": "path or library name", "function": "symbol"},
            rules={"binary": PATH, "function": USER_SYMBOL},
            needs="CONFIG_UPROBE_EVENTS",
        ),
    )
}


def find_program_type(name: str) -> ProgramType:
    """The program type called `name` (`-` and `_` alike), or a ConfigError with a did-you-mean."""
    key = name.replace("-", "_")
    if key in PROGRAM_TYPES:
        return PROGRAM_TYPES[key]
    guess = difflib.get_close_matches(key, list(PROGRAM_TYPES), n=1)
    hint = f"; did you mean `{guess[0]}`?" if guess else ""
    raise ConfigError(f"unknown program type {name!r}{hint}",
                      fix=f"use one of: {', '.join(PROGRAM_TYPES)}")  # fmt: skip


def options_for(kind: ProgramType, given: Mapping[str, str]) -> dict[str, str]:
    """The type's defaults overridden by `-o key=value`; unknown keys and values that break
    the option's rule are errors (the values are pasted into Rust source)."""
    for key, value in given.items():
        if key not in kind.options:
            guess = difflib.get_close_matches(key, list(kind.options), n=1)
            known = ", ".join(kind.options) or "none"
            hint = f"; did you mean `{guess[0]}`?" if guess else ""
            raise ConfigError(f"program type {kind.name} has no option {key!r}{hint} (options: {known})",
                              fix=f"see `buildbpf init --list` for the options of {kind.name}")  # fmt: skip
        rule = kind.rules[key]
        if not rule.accepts(value):
            shown = repr(value) if len(value) <= 80 else repr(value[:80]) + "..."
            raise ConfigError(
                f"-o {key}={shown} is not {rule.what} ({kind.name} option `{key}`): {rule.rule}",
                fix=f"pass -o {key}=VALUE with {rule.what}, e.g. -o {key}={kind.options[key]}",
            )
    return {**kind.options, **given}
