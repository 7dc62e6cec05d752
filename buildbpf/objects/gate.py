"""The artifact gate: a build is not done until its object is proven to be loadable eBPF.

Each problem names what is wrong and how to fix it (docs/pitfalls.md rows 7, 8, 10, 15).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from buildbpf._fs import OBJECT_LIMIT, read_regular
from buildbpf.errors import ArtifactError, BuildbpfError, FileSystemError
from buildbpf.objects import elf
from buildbpf.objects.facts import ObjectFacts, read_facts

EM_BPF = 247
ELF_MAGIC = b"\x7fELF"
BITCODE_MAGIC = b"BC\xc0\xde"
BITCODE_WRAPPER_MAGIC = b"\xde\xc0\x17\x0b"  # 0x0B17C0DE, little-endian on disk
AR_MAGIC = b"!<arch>\n"
_ENDIAN = {"bpfel": "ELFDATA2LSB", "bpfeb": "ELFDATA2MSB"}
_MACHINE_NAMES = {62: "x86-64", 183: "AArch64", 3: "x86", 40: "ARM", 243: "RISC-V"}
_E_TYPES = {0: "ET_NONE", 1: "ET_REL", 2: "ET_EXEC", 3: "ET_DYN", 4: "ET_CORE"}


@dataclass(frozen=True)
class Problem:
    """One thing wrong with an object; a fatal one means it is not loadable eBPF."""

    what: str
    fix: str = ""
    fatal: bool = True  # False: worth saying, but the object still loads (a warning)


@dataclass
class Inspection:
    """What the gate found in one object."""

    path: Path
    problems: list[Problem] = field(default_factory=list)
    programs: list[str] = field(default_factory=list)
    license: str | None = None
    has_btf: bool = False
    has_btf_ext: bool = False
    undefined: list[str] = field(default_factory=list)
    corrupt: str | None = None  # why Aya's loader would refuse the object, if it would
    object: elf.EbpfObject | None = None  # the object as read, for `check`
    facts: ObjectFacts | None = None  # one walk over it (an ELFCLASS64 EM_BPF object), for `check`

    @property
    def ok(self) -> bool:
        """No fatal problem: the object is loadable eBPF."""
        return not any(p.fatal for p in self.problems)

    def fail(self, what: str, fix: str) -> None:
        """Record a fatal problem."""
        self.problems.append(Problem(what, fix))


def _not_elf(data: bytes, result: Inspection) -> bool:
    """Recognise the usual non-ELF outputs; True when the file is not ELF at all."""
    if not data:
        result.fail(
            "the file is empty",
            "a stub or an interrupted build wrote it; rebuild the eBPF crate (buildbpf build --release)",
        )
    elif data.startswith((BITCODE_MAGIC, BITCODE_WRAPPER_MAGIC)):
        result.fail(
            "this is LLVM bitcode, not eBPF machine code: bpf-linker did not link it",
            "build a `bin` eBPF crate with bpf-linker as the linker "
            "(target.<bpf triple>.linker); rlibs and .o files of bpf targets are always bitcode",
        )
    elif data.startswith(AR_MAGIC):
        result.fail(
            "this is an ar archive (a static library or rlib), not a linked eBPF object",
            "point at the eBPF bin crate's output, not a library; make the eBPF crate a [[bin]]",
        )
    elif not data.startswith(ELF_MAGIC):
        result.fail(f"not an ELF file (starts with {data[:4]!r})", "rebuild the eBPF crate")
    else:
        return False
    return True


def inspect(
    path: Path,
    *,
    target: str = "bpfel",
    btf: bool = True,
    data: bytes | None = None,
    edition: str | None = None,
    before_0_12: bool = False,
) -> Inspection:
    """Check one object; never raises for a bad object (the verdict is in `problems`).

    `data`: the object's bytes when the caller has read them already; `edition`: the
    crate's Rust edition, so fix lines suggest code that compiles there; `before_0_12`: the
    crate is on aya-bpf, so its loader is an Aya before 0.12, which named sections otherwise.
    """
    target = target.removesuffix("-unknown-none")
    if target not in _ENDIAN:
        raise ValueError(f"unknown bpf target {target!r} (expected bpfel or bpfeb)")
    result = Inspection(path)
    try:
        data = read_regular(path, limit=OBJECT_LIMIT, what="object") if data is None else data
    except FileSystemError as error:
        result.fail(error.message, "build the eBPF crate first")
        return result
    except BuildbpfError as error:  # a FIFO, a device, a directory, over 64 MiB
        result.fail(f"cannot read it: {error.message}", error.fix or "build the eBPF crate first")
        return result
    if _not_elf(data, result):
        return result
    # one pass, the way Aya's loader reads it: what it refuses, the gate refuses (issue #11)
    obj = result.object = elf.parse(data, before_0_12=before_0_12)
    result.corrupt = obj.refusal
    if obj.elfclass == 2 and obj.e_machine == EM_BPF:
        result.facts = read_facts(obj)
    if obj.elfclass:
        _check_header(obj, target, result)
    if result.problems:
        return result  # a host object, say: that Aya cannot read it follows, and would mislead
    if obj.refusal is not None:
        fix = "rebuild the eBPF crate"
        if obj.refused_section == "license":
            fix = f"declare it as `{license_declaration(edition)}`"
        result.fail(f"corrupt ELF: {obj.refusal} (Aya's loader refuses it)", fix)
    if result.facts is not None:
        _check_sections(result.facts, btf, result, edition)
    return result


def _check_header(obj: elf.EbpfObject, target: str, result: Inspection) -> None:
    if obj.elfclass != 2:
        result.fail("ELFCLASS32, eBPF objects are ELFCLASS64", "build for a bpf target")
        return
    if obj.e_machine != EM_BPF:
        name = _MACHINE_NAMES.get(obj.e_machine, str(obj.e_machine))
        result.fail(
            f"e_machine is {name}, not EM_BPF ({EM_BPF}): this is a host object",
            "build the eBPF crate with --target bpfel-unknown-none (buildbpf does this for you)",
        )
    if obj.e_type != 1:
        kind = _E_TYPES.get(obj.e_type, str(obj.e_type))
        result.fail(
            f"e_type is {kind}, eBPF objects are ET_REL (relocatable)",
            "link with bpf-linker, not the host linker",
        )
    actual = "bpfel" if obj.little_endian else "bpfeb"
    if actual != target:
        result.fail(
            f"byte order is {actual} ({_ENDIAN[actual]}) but {target} was expected",
            f"the object was built for {actual}-unknown-none; build for {target}-unknown-none",
        )


def license_declaration(edition: str | None) -> str:
    """The license static as it compiles in the crate's edition (2024 wants `unsafe(...)`)."""
    if edition is not None and edition >= "2024":
        return (
            '#[unsafe(link_section = "license")] #[unsafe(no_mangle)] '
            'static LICENSE: [u8; 4] = *b"GPL\\0";'
        )
    return '#[link_section = "license"] #[no_mangle] static LICENSE: [u8; 4] = *b"GPL\\0";'


def _check_sections(facts: ObjectFacts, btf: bool, result: Inspection, edition: str | None = None) -> None:
    result.programs = list(facts.program_sections)
    result.license = facts.license
    result.has_btf, result.has_btf_ext = facts.has_btf, facts.has_btf_ext
    result.undefined = list(facts.undefined)
    if result.corrupt is None:
        for _ in range(facts.unterminated_licenses):
            result.fail(
                "the license section is not a NUL-terminated string",
                f"declare it as `{license_declaration(edition)}`",
            )
    if not result.programs:
        result.fail(
            "no program section (no executable section besides .text)",
            "mark each program with an aya-ebpf macro (#[xdp], #[kprobe], ...) and make sure "
            "it is pub and reachable; an empty object means nothing was exported",
        )
    # No `license` section is not a problem: Aya's loader then tells the kernel "GPL"
    # (aya-obj's default), and most Aya projects have none (PITFALLS #23). `check` notes it.
    if btf and not result.has_btf:
        result.fail(
            "no .BTF section although BTF is on",
            "BTF needs both `-C debuginfo=2` and `-C link-arg=--btf` (buildbpf passes both)",
        )
    if btf and result.has_btf and not result.has_btf_ext:
        result.fail(
            "no .BTF.ext section although BTF is on",
            "BTF needs both `-C debuginfo=2` and `-C link-arg=--btf` (buildbpf passes both)",
        )
    if result.undefined:
        names = ", ".join(sorted(set(result.undefined)))
        result.fail(
            f"undefined symbols: {names}",
            "eBPF has no libc: memcpy/memset come from copies LLVM could not inline (copy smaller, "
            "fixed-size values); other names are functions that were not inlined or not linked",
        )


def gate(
    path: Path,
    *,
    crate: str,
    target: str = "bpfel",
    btf: bool = True,
    edition: str | None = None,
    before_0_12: bool = False,
) -> Inspection:
    """Raise ArtifactError naming the crate, the file and the fix unless `path` is good eBPF."""
    result = inspect(path, target=target, btf=btf, edition=edition, before_0_12=before_0_12)
    fatal = [p for p in result.problems if p.fatal]
    if fatal:
        raise ArtifactError(
            f"crate {crate}: {path} is not loadable eBPF: " + "; ".join(p.what for p in fatal),
            fix=fatal[0].fix,
        )
    return result


def embedded_objects(path: Path) -> list[bytes]:
    """The eBPF objects embedded whole in a userspace binary (`include_bytes_aligned!`).

    Each is found by its ELF header (64-bit, e_machine EM_BPF) and cut at the end of its
    section header table, which LLVM writes last; a header whose table would lie outside
    the binary is not an object.
    """
    import mmap
    import struct

    found = []
    with path.open("rb") as file, mmap.mmap(file.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = data.find(ELF_MAGIC, 1)
        while start != -1:
            header = data[start : start + 64]
            if len(header) == 64 and header[4] == 2 and header[5] in (1, 2):  # ELFCLASS64, LSB/MSB
                order = "<" if header[5] == 1 else ">"
                (machine,) = struct.unpack_from(order + "H", header, 18)
                shoff, = struct.unpack_from(order + "Q", header, 40)
                shentsize, shnum = struct.unpack_from(order + "HH", header, 58)
                end = start + shoff + shentsize * shnum
                if machine == EM_BPF and shentsize == 64 and shnum and end <= len(data):
                    found.append(bytes(data[start:end]))
                    start = data.find(ELF_MAGIC, end)
                    continue
            start = data.find(ELF_MAGIC, start + 1)
    return found
