"""What `check` says about one eBPF object, and what would stop the kernel loading it.

Static only (no kernel involved): programs with their section, type and instruction
count, legacy `maps` definitions, license and whether it is GPL-compatible, BTF (header
and the names the kernel refuses), undefined symbols, size and sha256. It reads the object
once, through the gate (`gate.inspect`), and reports the gate's facts. Every malformed
input gets a verdict; nothing here raises for a bad file.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from buildbpf._fs import OBJECT_LIMIT, read_regular
from buildbpf.errors import BuildbpfError, FileSystemError
from buildbpf.objects import btf, gate
from buildbpf.objects.facts import ObjectMap, ObjectProgram
from buildbpf.objects.gate import Problem

# The kernel's license_is_gpl_compatible() (include/linux/license.h)
GPL_COMPATIBLE = frozenset(
    {"GPL", "GPL v2", "GPL and additional rights", "Dual BSD/GPL", "Dual MIT/GPL", "Dual MPL/GPL"}
)


@dataclass
class ObjectReport:
    """Everything `check` says about one object."""

    path: str
    size: int = 0
    sha256: str = ""
    byte_order: str = "bpfel"  # "bpfeb": big-endian, loads only into a big-endian kernel (s390x)
    sections_name_programs: bool = False  # aya-bpf's macros: sections name no attach target
    programs: list[ObjectProgram] = field(default_factory=list)
    maps: list[ObjectMap] = field(default_factory=list)
    license: str | None = None
    gpl_compatible: bool | None = None
    btf: bool = False
    btf_types: int = 0
    corrupt: str | None = None  # why Aya's loader would refuse the object (it parses it as Aya does)
    undefined: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)  # GPL-only helpers the programs call
    findings: list[Problem] = field(default_factory=list)  # fatal: a problem; otherwise a warning
    notes: list[str] = field(default_factory=list)
    loads: list[Any] = field(default_factory=list)  # verifier.ProgramLoad, with --load
    attach: list[Any] = field(default_factory=list)  # attach.Verdict per program with a target
    cannot_attach: list[Any] = field(default_factory=list)  # mechanisms.Blocked: this kernel lacks the way
    # kernel structs the code was compiled against (DWARF), against this kernel's BTF
    kernel_types: list[dict[str, Any]] = field(default_factory=list)

    @property
    def problems(self) -> list[str]:
        """What makes the object fail `check` (exit 5)."""
        return [p.what for p in self.findings if p.fatal]

    @property
    def warnings(self) -> list[str]:
        """What is wrong but does not stop the object loading with Aya."""
        return [p.what for p in self.findings if not p.fatal]

    @property
    def ok(self) -> bool:
        """No fatal finding."""
        return not any(p.fatal for p in self.findings)

    def problem(self, what: str) -> None:
        """Record a fatal finding."""
        self.findings.append(Problem(what))

    def warn(self, what: str) -> None:
        """Record a finding that is not fatal."""
        self.findings.append(Problem(what, fatal=False))

    def as_json(self) -> dict[str, Any]:
        """The report as `check --json` prints it: problems and warnings as lists of strings."""
        data: dict[str, Any] = {}
        for key, value in asdict(self).items():
            if key == "findings":
                data["problems"], data["warnings"] = self.problems, self.warnings
            else:
                data[key] = value
        data["ok"] = self.ok
        return data


def describe(
    path: Path,
    *,
    target: str | None = None,
    btf_required: bool = False,
    btf_origin: str | None = None,
    sections_name_programs: bool = False,
) -> ObjectReport:
    """Build the report for one object; never raises for a malformed file.

    Without `target`, the byte order is taken from the ELF header itself. `btf_required`
    follows the settings the object was built with (`btf_origin` says which); missing BTF
    that is not required is a note. `sections_name_programs`: the crate is on aya-bpf, so
    its sections are read as Aya before 0.12 read them (`xdp/NAME`).
    """
    report = ObjectReport(str(path), sections_name_programs=sections_name_programs)
    try:  # a FIFO or /dev/zero would block or fill memory: regular files up to 64 MiB only
        data = read_regular(path, limit=OBJECT_LIMIT, what="object")
    except FileSystemError as error:
        report.problem(error.message)
        return report
    except BuildbpfError as error:
        report.problem(f"cannot read: {error.message}")
        return report
    if target is None:
        target = "bpfeb" if data[5:6] == b"\x02" else "bpfel"
    report.size = len(data)
    report.byte_order = "bpfeb" if data[5:6] == b"\x02" else "bpfel"  # the ELF header's, not the asked
    report.sha256 = hashlib.sha256(data).hexdigest()
    gated = gate.inspect(path, target=target, btf=btf_required, data=data,
                         before_0_12=sections_name_programs)  # the one read of the object
    report.findings += gated.problems
    report.license = gated.license
    report.undefined = sorted(set(gated.undefined))
    report.corrupt = gated.corrupt
    facts = gated.facts
    if facts is None or gated.object is None:
        return report  # not an eBPF object: listing its sections would only mislead
    report.programs, report.maps, report.helpers = facts.programs, facts.maps, facts.helpers
    if facts.btf is not None:
        _judge_btf(report, facts.btf, gated.object.little_endian)
    _judge_license(report)
    if not btf_required:
        _note_missing_btf(report, gated.has_btf, gated.has_btf_ext, btf_origin)
    return report


def _judge_btf(report: ObjectReport, data: bytes, little_endian: bool) -> None:
    report.btf = True
    parsed = btf.parse(data, little_endian)
    report.btf_types = len(parsed.types)
    # Aya's loader does not judge BTF beyond its offsets and records (that is `corrupt`): it
    # hands the BTF to the kernel, and loads without it when the kernel refuses it
    for problem in parsed.problems:
        report.warn(f"BTF: {problem}; the kernel refuses this BTF")
    # Aya then loads the programs without the object's BTF (it only warns);
    # libbpf-based loaders fail outright (PITFALLS #9)
    for refused in parsed.refused:
        report.warn(f"BTF: {refused}; Aya loads without this BTF, libbpf refuses")


def _note_missing_btf(report: ObjectReport, has_btf: bool, has_btf_ext: bool, origin: str | None) -> None:
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


def _judge_license(report: ObjectReport) -> None:
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
        report.warn(
            f"license {report.license!r} is not GPL-compatible, but the programs call GPL-only "
            f"helpers ({', '.join(report.helpers)}): the kernel refuses to load them "
            '("cannot call GPL-restricted function from non-GPL compatible program")'
        )
