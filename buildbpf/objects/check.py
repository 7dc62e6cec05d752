"""`buildbpf check`: what an eBPF object holds, and what would stop the kernel loading it.

Static only (no kernel involved): programs with their section, type and instruction
count, legacy `maps` definitions, license and whether it is GPL-compatible, BTF (header
and the names the kernel refuses), undefined symbols, size and sha256. Every malformed
input gets a verdict; nothing here raises for a bad file.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from buildbpf._fs import OBJECT_LIMIT, read_regular
from buildbpf.errors import BuildbpfError, FileSystemError
from buildbpf.objects import btf, elf, gate
from buildbpf.objects.sections import section_program_type

# The kernel's license_is_gpl_compatible() (include/linux/license.h)
GPL_COMPATIBLE = frozenset(
    {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}
)

# Helpers the kernel marks `.gpl_only = true` (kernel/bpf/helpers.c, kernel/trace/bpf_trace.c,
# net/core/filter.c): a program whose license is not GPL-compatible may not call them.
GPL_ONLY_HELPERS = {
    4: "bpf_probe_read", 6: "bpf_trace_printk", 22: "bpf_perf_event_read", 25: "bpf_perf_event_output",
    27: "bpf_get_stackid", 35: "bpf_get_current_task", 36: "bpf_probe_write_user",
    41: "bpf_perf_event_read_value", 45: "bpf_probe_read_str", 55: "bpf_perf_prog_read_value",
    58: "bpf_override_return", 67: "bpf_get_stack", 112: "bpf_probe_read_user",
    113: "bpf_probe_read_kernel", 114: "bpf_probe_read_user_str", 115: "bpf_probe_read_kernel_str",
    158: "bpf_get_current_task_btf", 177: "bpf_trace_vprintk",
}  # fmt: skip
_BPF_CALL = 0x85  # BPF_JMP | BPF_CALL; src_reg 0 means a helper, its id in imm


def helper_calls(code: bytes, little_endian: bool = True) -> set[int]:
    """Ids of the helpers a program section calls (`call N` with src_reg 0)."""
    found = set()
    order = "<i" if little_endian else ">i"
    for offset in range(0, len(code) - 7, 8):
        if code[offset] != _BPF_CALL:
            continue
        regs = code[offset + 1]
        src = regs >> 4 if little_endian else regs & 0x0F
        if src == 0:
            found.add(struct.unpack_from(order, code, offset + 4)[0])
    return found


# enum bpf_map_type (include/uapi/linux/bpf.h)
_MAP_TYPES = {
    1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array", 5: "percpu_hash", 6: "percpu_array",
    7: "stack_trace", 8: "cgroup_array", 9: "lru_hash", 10: "lru_percpu_hash", 11: "lpm_trie",
    12: "array_of_maps", 13: "hash_of_maps", 14: "devmap", 15: "sockmap", 16: "cpumap", 17: "xskmap",
    18: "sockhash", 22: "queue", 23: "stack", 24: "sk_storage", 25: "devmap_hash", 27: "ringbuf",
    30: "bloom_filter", 31: "user_ringbuf",
}  # fmt: skip


@dataclass(frozen=True)
class Program:
    """One program (function) in a program section."""

    function: str
    section: str
    type: str
    instructions: int


@dataclass(frozen=True)
class Map:
    """One legacy map definition (`maps` section, `struct bpf_map_def`)."""

    name: str
    type: str
    key_size: int | None
    value_size: int | None
    max_entries: int | None


@dataclass
class Report:
    """Everything `check` says about one object."""

    path: str
    size: int = 0
    sha256: str = ""
    programs: list[Program] = field(default_factory=list)
    maps: list[Map] = field(default_factory=list)
    license: str | None = None
    gpl_compatible: bool | None = None
    btf: bool = False
    btf_types: int = 0
    corrupt: str | None = None  # why Aya's loader would refuse the object (it parses it as Aya does)
    undefined: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)  # GPL-only helpers the programs call
    problems: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)  # verifier.ProgramLoad, with --load
    attach: list[Any] = field(default_factory=list)  # attach.Verdict per program with a target

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["ok"] = self.ok
        return data


def inspect(
    path: Path, *, target: str | None = None, btf_required: bool = False, btf_origin: str | None = None
) -> Report:
    """Build the report for one object; never raises for a malformed file.

    Without `target`, the byte order is taken from the ELF header itself. `btf_required`
    follows the settings the object was built with (`btf_origin` says which); missing BTF
    that is not required is a note.
    """
    report = Report(str(path))
    try:  # a FIFO or /dev/zero would block or fill memory: regular files up to 64 MiB only
        data = read_regular(path, limit=OBJECT_LIMIT, what="object")
    except FileSystemError as error:
        report.problems.append(error.message)
        return report
    except BuildbpfError as error:
        report.problems.append(f"cannot read: {error.message}")
        return report
    if target is None:
        target = "bpfeb" if data[5:6] == b"\x02" else "bpfel"
    report.size = len(data)
    report.sha256 = hashlib.sha256(data).hexdigest()
    gated = gate.inspect(path, target=target, btf=btf_required, data=data)
    report.problems += [p.what for p in gated.problems]
    report.license = gated.license
    report.undefined = sorted(set(gated.undefined))
    report.corrupt = gated.corrupt
    obj = gated.object
    if obj is None or obj.elfclass != 2 or obj.e_machine != gate.EM_BPF:
        return report  # not an eBPF object: listing its sections would only mislead
    _read_object(obj, report)
    _judge_license(report)
    if not btf_required:
        _note_missing_btf(report, gated.has_btf, gated.has_btf_ext, btf_origin)
    return report


def _note_missing_btf(report: Report, has_btf: bool, has_btf_ext: bool, origin: str | None) -> None:
    """Say what an object without BTF cannot do, when nothing required BTF of it."""
    why = origin or "the object was named on the command line; --btf requires it"
    if not has_btf:
        report.notes.append(
            f"no .BTF section (not required: {why}): Aya loads the programs without it, but "
            "BTF-defined maps and CO-RE relocations need it, and verifier logs lack source lines"
        )
    elif not has_btf_ext:
        report.notes.append(
            f".BTF without .BTF.ext (not required: {why}): the kernel gets no function or line "
            "info for these programs"
        )


def _judge_license(report: Report) -> None:
    """What the kernel will be told, and whether it refuses the helpers the programs call."""
    if report.license is None:
        # aya-obj: no `license` section -> "GPL"; the kernel then allows every helper
        report.notes.append(
            'no `license` section: Aya\'s loader tells the kernel "GPL" (its default), so GPL-only '
            "helpers are allowed; other loaders (libbpf) would load it as non-GPL"
        )
        return
    report.gpl_compatible = report.license in GPL_COMPATIBLE
    if not report.gpl_compatible and report.helpers:
        report.warnings.append(
            f"license {report.license!r} is not GPL-compatible, but the programs call GPL-only "
            f"helpers ({', '.join(report.helpers)}): the kernel refuses to load them "
            '("cannot call GPL-restricted function from non-GPL compatible program")'
        )


def add_attach_targets(report: Report) -> None:
    """Check every attach target named in a section against the running kernel."""
    from buildbpf.objects import attach

    for section in dict.fromkeys(p.section for p in report.programs):
        verdict = attach.check_section(section)
        if verdict is None:
            continue
        report.attach.append(verdict)
        if verdict.found is False:
            hint = f"; did you mean {' or '.join(verdict.suggestions)}?" if verdict.suggestions else ""
            report.problems.append(f"attach target {verdict.kind} {verdict.target!r}: {verdict.detail}{hint}")
        elif verdict.found is None:
            report.warnings.append(
                f"attach target {verdict.kind} {verdict.target!r} not checked: {verdict.detail}"
            )


def add_loads(report: Report, binary: Path, extra_targets: dict[str, str] | None = None) -> None:
    """Run the object through the kernel verifier (`check --load`) and record the verdicts."""
    from buildbpf.objects import verifier

    sections = {p.function: p.section for p in report.programs}
    done = verifier.load_object(binary, Path(report.path), sections, extra_targets or {})
    report.loads = done.programs
    if done.error is not None:
        report.problems.append(f"load: {done.error}")
    if done.not_verified is not None:
        report.warnings.append(f"load: not verified here: {done.not_verified}")
    for load in done.programs:
        if load.status == "rejected":
            report.problems.append(f"load: program {load.name} rejected: {load.error}")
        elif load.status == "not verified":
            report.warnings.append(f"load: program {load.name} not verified here: {load.reason}")


def _read_object(obj: elf.EbpfObject, report: Report) -> None:
    """Programs, maps and BTF from the object as the gate read it (one pass over the bytes)."""
    symbols = obj.symbols
    order = "<" if obj.little_endian else ">"
    for section in obj.sections:
        if not section.executable or section.name == ".text" or section.size == 0 or section.data is None:
            continue
        name = section.name or f"#{section.index}"
        functions = [s for s in symbols if s.shndx == section.index and s.type == elf.STT_FUNC]
        if not functions:
            report.programs.append(Program("?", name, section_program_type(name), section.size // 8))
        for symbol in functions:
            size = symbol.size or section.size
            report.programs.append(Program(symbol.name or "?", name, section_program_type(name), size // 8))
        called = helper_calls(section.data, obj.little_endian) & GPL_ONLY_HELPERS.keys()
        report.helpers = sorted({*report.helpers, *(GPL_ONLY_HELPERS[h] for h in called)})
    maps_section = obj.section("maps")
    if maps_section is not None:
        raw = maps_section.data or b""
        for symbol in symbols:
            if symbol.shndx != maps_section.index or symbol.type == elf.STT_SECTION:
                continue
            if not symbol.name:
                continue
            offset = symbol.value
            if offset + 16 <= len(raw):
                kind, key, value, entries = struct.unpack_from(order + "IIII", raw, offset)
                report.maps.append(
                    Map(symbol.name, _MAP_TYPES.get(kind, f"type {kind}"), key, value, entries)
                )
            else:
                report.maps.append(Map(symbol.name, "unknown", None, None, None))
    btf_section = obj.section(".BTF")
    if btf_section is not None:
        report.btf = True
        parsed = btf.parse(btf_section.data or b"", obj.little_endian)
        report.btf_types = len(parsed.types)
        # Aya's loader does not judge BTF beyond its offsets and records (that is `corrupt`): it
        # hands the BTF to the kernel, and loads without it when the kernel refuses it
        report.warnings += [f"BTF: {p}; the kernel refuses this BTF" for p in parsed.problems]
        if parsed.refused:
            # Aya then loads the programs without the object's BTF (it only warns);
            # libbpf-based loaders fail outright (PITFALLS #9)
            report.warnings += [
                f"BTF: {r}; Aya loads without this BTF, libbpf refuses" for r in parsed.refused
            ]
