"""`buildbpf check` as one call: describe each object, check its attach targets, load it.

`run` is the pipeline the CLI calls (it only parses options and renders the reports):
`report.describe` per object (one read, through the gate), then the attach targets its
sections name against the running kernel, then, with `load`, every program through the
kernel's verifier (`verifier`, with Aya itself).
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf.errors import ConfigError
from buildbpf.objects.report import ObjectReport, describe

if TYPE_CHECKING:
    from buildbpf.toolchain.rust import RustToolchain


@dataclass(frozen=True)
class CheckInput:
    """One object to check, and whether BTF is required of it (as its build asked)."""

    path: Path
    btf_required: bool = False
    btf_origin: str | None = None  # why BTF is (not) required: the setting, `--no-btf`, ...
    # built by a crate on aya-bpf (before 0.12), whose macros name sections after the program:
    # `kprobe/NAME` names no function to attach to (PITFALLS #36)
    sections_name_programs: bool = False


@dataclass(frozen=True)
class CheckOptions:
    """How `check` judges the objects beyond what they hold."""

    btf_required: bool | None = None  # `--btf/--no-btf`: overrides each input's own
    attach_targets: bool = True  # check attach targets against this kernel
    layouts: bool = True  # compare the kernel structs the code reads with this kernel's BTF
    strict_layout: bool = False  # ... and a field that differs is a problem (exit 5), not a warning
    load: bool = False  # load every program into this kernel's verifier (needs privilege)
    extra_targets: Mapping[str, str] = field(default_factory=dict)  # FUNCTION -> TARGET, with load
    # builds the verifier helper, asked for only once privilege is known (a callable resolves it
    # then); None: the toolchain the cwd's toolchain file pins
    rust: RustToolchain | Callable[[], RustToolchain] | None = None


def run(objects: Sequence[CheckInput | Path], options: CheckOptions | None = None) -> list[ObjectReport]:
    """Check each object (explicit paths: finding the published ones is the caller's job).

    Raises KernelError when `load` is asked without the privilege to load programs.
    """
    options = options or CheckOptions()
    inputs = [o if isinstance(o, CheckInput) else CheckInput(o) for o in objects]
    if options.btf_required is not None:
        inputs = [replace(i, btf_required=options.btf_required, btf_origin="--no-btf") for i in inputs]
    reports = [
        describe(i.path, btf_required=i.btf_required, btf_origin=i.btf_origin,
                 sections_name_programs=i.sections_name_programs)
        for i in inputs
    ]  # fmt: skip
    if options.attach_targets:
        from buildbpf.objects import mechanisms

        verdicts = mechanisms.this_kernel() if any(r.programs for r in reports) else {}
        for report in reports:
            add_attach_targets(report)
            add_mechanisms(report, verdicts)
    if options.layouts and any(r.programs for r in reports):
        add_layouts(reports, strict=options.strict_layout)
    if options.load:
        load_reports(reports, options.extra_targets, options.rust)
    return reports


def add_layouts(
    reports: Sequence[ObjectReport], btf_path: Path = Path("/sys/kernel/btf/vmlinux"), *, strict: bool = False
) -> None:
    """For each object, the kernel structs its code was compiled against (from its DWARF), and
    whether this kernel lays them out alike: a field at another offset is read wrong here."""
    import platform

    from buildbpf.objects import layouts

    kernel: layouts.KernelBtf | None = None
    label = f"this kernel ({platform.release()})"
    for report in reports:
        if not report.programs:
            continue
        try:
            found = layouts.object_layouts(Path(report.path))
        except ValueError as exc:
            report.notes.append(f"kernel structs: {exc}")
            continue
        if found is None:
            report.notes.append("cannot tell which kernel structs the programs read: the object has no "
                                "DWARF (built without debuginfo, or stripped)")  # fmt: skip
            continue
        if not found:
            continue
        kernel = kernel or layouts.running_kernel_btf(btf_path)
        if kernel is None:
            report.notes.append(f"cannot compare kernel struct layouts: no BTF at {btf_path}")
            return
        compiled = {layout.name: layout for layout in found}
        for verdict in layouts.verdicts(found, kernel):
            described = [d.describe(verdict.name, label) for d in verdict.differences]
            # the offsets the code was compiled with, field by field (bit offsets for bitfields)
            members = [{"name": m.name, "bit_offset": m.bit_offset, "bits": m.bits}
                       for m in compiled[verdict.name].members]  # fmt: skip
            report.kernel_types.append({"type": verdict.name, "fields": verdict.fields, "same": verdict.same,
                                        "differences": described, "members": members})  # fmt: skip
            for difference, text in zip(verdict.differences, described, strict=True):
                fix = layouts.advice(verdict.name, difference)
                judge = report.problem if strict else report.warn
                judge(f"kernel struct layout: {text}: the program reads other bytes than it means on this "
                      f"kernel (Rust eBPF has no CO-RE); {fix}")  # fmt: skip


def parse_attach_targets(items: Sequence[str]) -> dict[str, str]:
    """`--attach-target FUNCTION=TARGET` values as a mapping; ConfigError for a malformed one."""
    extra = {}
    for item in items:
        function, sep, target = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--attach-target {item!r} is not FUNCTION=TARGET", fix="e.g. my_fentry=do_unlinkat"
            )
        extra[function] = target
    return extra


def load_reports(
    reports: Sequence[ObjectReport],
    extra_targets: Mapping[str, str] | None = None,
    rust: RustToolchain | Callable[[], RustToolchain] | None = None,
) -> None:
    """Load the programs of every report into the kernel's verifier (`check --load`)."""
    from buildbpf.objects import verifier
    from buildbpf.toolchain.pin import file_pin
    from buildbpf.toolchain.rust import resolve_rust

    verifier.require_privilege()
    # the CLI passes the toolchain its precedence chose; without one, the cwd's toolchain file
    if callable(rust):
        rust = rust()
    binary = verifier.loader_binary(rust or resolve_rust(file_pin(Path.cwd())))
    for report in reports:
        if report.programs:
            add_loads(report, binary, dict(extra_targets or {}))


def add_attach_targets(report: ObjectReport) -> None:
    """Check every attach target named in a section against the running kernel. One it lacks
    is a warning: the object may be built for another kernel (`check --kernel` asks those), and
    neither Aya's loader nor the verifier reads the name."""
    from buildbpf.objects import attach

    if report.sections_name_programs:
        report.notes.append(OLD_MACROS)
        return
    functions = {p.function for p in report.programs}
    for section in dict.fromkeys(p.section for p in report.programs):
        verdict = attach.check_section(section)
        if verdict is None:
            continue
        report.attach.append(verdict)
        if verdict.found is False:
            hint = f"; did you mean {' or '.join(verdict.suggestions)}?" if verdict.suggestions else ""
            own = OWN_NAME if verdict.target in functions else ""
            report.warn(f"attach target {verdict.kind} {verdict.target!r}: {verdict.detail} on this "
                        f"kernel{hint}{own}")  # fmt: skip
        elif verdict.found is None:
            report.warn(f"attach target {verdict.kind} {verdict.target!r} not checked: {verdict.detail}")


def add_mechanisms(report: ObjectReport, verdicts: Mapping[str, Any]) -> None:
    """Mark each program whose attach mechanism this kernel lacks: not fatal (built for another machine)."""
    from buildbpf.objects import mechanisms

    programs = [(p.function, p.section) for p in report.programs]
    for block in mechanisms.blocked(programs, verdicts):
        report.cannot_attach.append(block)
        report.warn(block.message)


HOST_BYTE_ORDER = "bpfel" if sys.byteorder == "little" else "bpfeb"
OWN_NAME = (
    " (it is also a program's own name, as aya-bpf's macros before 0.12 named sections; if so, "
    "userspace names the target)"
)
OLD_MACROS = (
    "attach targets: not looked up; this crate uses aya-bpf, whose macros (before 0.12) name "
    "sections after the program (`kprobe/NAME`), not after what it attaches to"
)


def foreign_byte_order(byte_order: str, where: str = "this machine") -> str:
    """Why an object of the other byte order is not loaded: no kernel of `where` could run it."""
    endian = "big" if byte_order == "bpfeb" else "little"
    other = "little" if endian == "big" else "big"
    return (f"a {byte_order} ({endian}-endian) object loads only into a {endian}-endian kernel, "
            f"and {where} is {other}-endian; check it on such a machine")  # fmt: skip


def unloadable(report: ObjectReport, byte_order: str, where: str) -> str | None:
    """Why the verifier helper (Aya 0.14) cannot load this object on `where`, a kernel of
    `byte_order`, although the object's own loader may: None when it can."""
    from buildbpf.objects.sections import aya_accepts

    if report.byte_order != byte_order:  # Aya refuses it, no verifier judges it (PITFALLS #33)
        return foreign_byte_order(report.byte_order, where)
    old = [p.section for p in report.programs if not aya_accepts(p.section)]
    if report.sections_name_programs and old:  # the project's own Aya (before 0.12) reads them
        return (f"the verifier helper loads with Aya 0.14, which refuses the section names "
                f"aya-bpf's macros gave ({', '.join(sorted(set(old)))}); the project's own Aya "
                "(before 0.12) reads them")  # fmt: skip
    return None


def with_sources(path: Path, loads: Sequence[Any]) -> list[Any]:
    """Each rejected program's load with the source line of the instruction the verifier
    refused (from the object's line info; `objects.lineinfo`)."""
    from buildbpf.objects import lineinfo

    try:
        table = lineinfo.line_table(path.read_bytes())
    except OSError:
        return list(loads)
    found = []
    for load in loads:
        where = None
        if load.status == "rejected":
            where = lineinfo.locate(table, load.name, lineinfo.failing_instruction(load.verifier_log or ""))
        found.append(load if where is None else
                     replace(load, source=where.shown(Path.cwd()), source_text=where.text()))  # fmt: skip
    return found


def add_loads(report: ObjectReport, binary: Path, extra_targets: dict[str, str] | None = None) -> None:
    """Run the object through the kernel verifier (`check --load`) and record the verdicts."""
    from buildbpf.objects import verifier

    why = unloadable(report, HOST_BYTE_ORDER, "this machine")
    if why is not None:
        report.warn(f"load: not verified here: {why}")
        return
    # aya-bpf's section names are program names: the target comes from --attach-target only
    sections = {} if report.sections_name_programs else {p.function: p.section for p in report.programs}
    done = verifier.load_object(binary, Path(report.path), sections, extra_targets or {})
    report.loads = [*done.programs]
    if any(load.status == "rejected" for load in report.loads):
        report.loads = with_sources(Path(report.path), report.loads)
    if done.error is not None:
        report.problem(f"load: {done.error}")
    if done.not_verified is not None:
        report.warn(f"load: not verified here: {done.not_verified}")
    for load in done.programs:
        if load.status == "rejected":
            at = f" at {load.source}" if load.source else ""
            report.problem(f"load: program {load.name} rejected{at}: {load.error}")
        elif load.status == "not verified":
            report.warn(f"load: program {load.name} not verified here: {load.reason}")
