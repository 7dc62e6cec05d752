"""Does the running kernel have what a program's section names? (`check` attach targets)

kprobe/kretprobe: /proc/kallsyms; fentry/fexit/lsm/tp_btf: kernel BTF; tracepoint:
tracefs (when mounted); uprobe: the binary's symbols. A missing target comes with
suggestions (`sys_connect` -> `__x64_sys_connect`, `__sys_connect`, tracepoint
`syscalls/sys_enter_connect`), see docs/pitfalls.md on syscall entry points.
"""

from __future__ import annotations

import difflib
import functools
import platform
import sys
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from buildbpf._fs import is_dir
from buildbpf.objects import btf, kernel, sections

TRACEFS = (Path("/sys/kernel/tracing/events"), Path("/sys/kernel/debug/tracing/events"))


@dataclass(frozen=True)
class Verdict:
    """One attach target: found, missing (with suggestions), or not checkable here."""

    section: str
    kind: str
    target: str
    found: bool | None  # None: cannot tell on this machine
    detail: str = ""
    suggestions: tuple[str, ...] = ()


@functools.cache
def kallsyms() -> frozenset[str]:
    """Function symbols the kernel exports (names only; addresses may be hidden)."""
    try:
        text = Path("/proc/kallsyms").read_text()
    except OSError:
        return frozenset()
    names = set()
    for line in text.splitlines():
        parts = line.split()
        if len(parts) >= 3 and parts[1] in "tTwW":
            names.add(parts[2])
    return frozenset(names)


@functools.cache
def vmlinux_btf() -> dict[str, frozenset[str]]:
    """Kernel BTF names by kind (FUNC, TYPEDEF, ...); empty without /sys/kernel/btf/vmlinux."""
    if not kernel.has_vmlinux_btf():
        return {}
    report = btf.parse(kernel.VMLINUX_BTF.read_bytes(), little_endian=sys.byteorder == "little")
    by_kind: dict[str, set[str]] = {}
    for entry in report.types:
        by_kind.setdefault(entry.kind, set()).add(entry.name)
    return {kind: frozenset(names) for kind, names in by_kind.items()}


def syscall_suggestions(target: str, symbols: frozenset[str], arch: str | None = None) -> list[str]:
    """Likely names for a syscall entry point the kernel does not have under `target`."""
    arch = arch or platform.machine()
    base = target
    for prefix in sections.SYSCALL_PREFIXES:
        if base.startswith(prefix):
            base = base[len(prefix) :]
            break
    wrapper = sections.syscall_wrapper(arch) or ""
    candidates = [f"{wrapper}{base}", f"__sys_{base}", f"__do_sys_{base}", f"ksys_{base}"]
    found = [c for c in candidates if c in symbols and c != target]
    if base != target or found:
        found.append(f"tracepoint syscalls/sys_enter_{base}")
    if not found:
        found = difflib.get_close_matches(target, [s for s in symbols if base in s], n=3)
    return found


def _close(target: str, names: Iterable[str]) -> tuple[str, ...]:
    pool = [n for n in names if target[:4] in n] or list(names)
    return tuple(difflib.get_close_matches(target, pool, n=3))


_Symbols = Callable[[], frozenset[str]]
_KernelBtf = Callable[[], dict[str, frozenset[str]]]


def check_section(
    section: str,
    *,
    arch: str | None = None,
    symbols: _Symbols = kallsyms,
    kernel_btf: _KernelBtf = vmlinux_btf,
) -> Verdict | None:
    """The verdict for one program section, or None when it names no target."""
    kind, _, target = section.partition("/")
    row = sections.SECTION_KINDS.get(kind)
    if not target or row is None:
        return None
    if row.attach == sections.KALLSYMS:
        return _kernel_symbol(section, kind, target, symbols, arch)
    if row.attach == sections.KERNEL_BTF:
        return _btf_target(section, kind, target, kernel_btf)
    if row.attach == sections.TRACEFS:
        return _tracepoint(section, kind, target)
    if row.attach == sections.BINARY:
        return _uprobe(section, kind, target)
    return None


def _kernel_symbol(section: str, kind: str, target: str, symbols: _Symbols, arch: str | None) -> Verdict:
    names = symbols()
    if not names:
        return Verdict(section, kind, target, None, "/proc/kallsyms is not readable")
    if target in names:
        return Verdict(section, kind, target, True)
    return Verdict(section, kind, target, False, "not in /proc/kallsyms",
                   tuple(syscall_suggestions(target, names, arch)))  # fmt: skip


def _btf_target(section: str, kind: str, target: str, kernel_btf: _KernelBtf) -> Verdict:
    types = kernel_btf()
    if not types:
        return Verdict(section, kind, target, None, "no kernel BTF (/sys/kernel/btf/vmlinux)")
    funcs = types.get("FUNC", frozenset())
    if kind == "lsm":
        ok = f"bpf_lsm_{target}" in funcs
        pool: Iterable[str] = (f[len("bpf_lsm_") :] for f in funcs if f.startswith("bpf_lsm_"))
    elif kind == "tp_btf":
        typedefs = types.get("TYPEDEF", frozenset())
        ok = f"btf_trace_{target}" in typedefs
        pool = (t[len("btf_trace_") :] for t in typedefs if t.startswith("btf_trace_"))
    else:
        ok = target in funcs
        pool = funcs
    if ok:
        return Verdict(section, kind, target, True)
    return Verdict(section, kind, target, False, "not in the kernel's BTF", _close(target, list(pool)))


def _tracepoint(section: str, kind: str, target: str) -> Verdict:
    events = next((p for p in TRACEFS if is_dir(p)), None)  # tracefs is root's only (0700)
    if events is None:
        return Verdict(section, kind, target, None, "tracefs is not mounted")
    if is_dir(events / target):
        return Verdict(section, kind, target, True)
    category = target.split("/", maxsplit=1)[0]
    pool = (
        [f"{category}/{p.name}" for p in (events / category).iterdir()]
        if is_dir(events / category)
        else []
    )
    return Verdict(section, kind, target, False, f"no {events / target}", _close(target, pool))


def _uprobe(section: str, kind: str, target: str) -> Verdict:
    binary, _, function = target.rpartition(":")
    if binary.startswith("lib/") or binary.startswith("usr/"):
        binary = "/" + binary  # the macro's absolute path loses its leading slash in the section
    path = Path(binary)
    if not binary or not path.is_absolute():
        return Verdict(section, kind, target, None, "library resolved at attach time")
    try:
        regular = path.is_file()
    except OSError as exc:  # inside a directory this user cannot search (`sudo -u`)
        return Verdict(section, kind, target, None, f"{binary} cannot be looked at ({exc.strerror})")
    if not regular:
        return Verdict(section, kind, target, False, f"{binary} does not exist")
    names = _elf_symbols(path)
    if function in names:
        return Verdict(section, kind, target, True)
    return Verdict(
        section, kind, target, False, f"{function} is not a symbol of {binary}", _close(function, names)
    )


def _elf_symbols(path: Path) -> frozenset[str]:
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            return frozenset(
                symbol.name.split("@")[0]
                for section in elf.iter_sections()
                if isinstance(section, SymbolTableSection)
                for symbol in section.iter_symbols()
                if symbol.name
            )
    except (OSError, ELFError):
        return frozenset()
