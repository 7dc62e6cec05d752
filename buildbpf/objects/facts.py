"""One walk over a parsed object: the facts both the artifact gate and `check` read.

`elf.parse` reads the bytes once, as Aya's loader does; `read_facts` walks its sections and
symbols once for programs, maps, license, BTF presence, undefined symbols and the GPL-only
helpers the programs call. The gate judges these facts; `check` reports them.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from buildbpf.objects import elf
from buildbpf.objects.sections import section_program_type

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
# enum bpf_map_type (include/uapi/linux/bpf.h)
MAP_TYPES = {
    1: "hash", 2: "array", 3: "prog_array", 4: "perf_event_array", 5: "percpu_hash", 6: "percpu_array",
    7: "stack_trace", 8: "cgroup_array", 9: "lru_hash", 10: "lru_percpu_hash", 11: "lpm_trie",
    12: "array_of_maps", 13: "hash_of_maps", 14: "devmap", 15: "sockmap", 16: "cpumap", 17: "xskmap",
    18: "sockhash", 22: "queue", 23: "stack", 24: "sk_storage", 25: "devmap_hash", 27: "ringbuf",
    30: "bloom_filter", 31: "user_ringbuf",
}  # fmt: skip


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


@dataclass(frozen=True)
class ObjectProgram:
    """One program (function) in a program section."""

    function: str
    section: str
    type: str
    instructions: int


@dataclass(frozen=True)
class ObjectMap:
    """One legacy map definition (`maps` section, `struct bpf_map_def`)."""

    name: str
    type: str
    key_size: int | None
    value_size: int | None
    max_entries: int | None


@dataclass
class ObjectFacts:
    """What one object holds, from one walk over its sections and symbols."""

    program_sections: list[str] = field(default_factory=list)  # executable sections besides .text
    programs: list[ObjectProgram] = field(default_factory=list)  # one per function in them
    maps: list[ObjectMap] = field(default_factory=list)
    license: str | None = None
    unterminated_licenses: int = 0  # `license` sections without a NUL
    has_btf: bool = False
    has_btf_ext: bool = False
    btf: bytes | None = None  # the first `.BTF` section's bytes (None: there is none)
    undefined: list[str] = field(default_factory=list)
    helpers: list[str] = field(default_factory=list)  # GPL-only helpers the programs call


def read_facts(obj: elf.EbpfObject) -> ObjectFacts:
    """Walk the sections and symbols of an ELFCLASS64 object once."""
    facts = ObjectFacts()
    called: set[int] = set()
    for section in obj.sections:
        # the gate's program sections are PROGBITS only; `check` lists every executable one
        if section.executable and section.type == 1 and section.name != ".text" and section.size > 0:
            facts.program_sections.append(section.name or f"#{section.index}")
        elif section.name == "license" and section.data is not None:
            if b"\0" in section.data:
                facts.license = section.data.split(b"\0", 1)[0].decode("ascii", "replace")
            else:
                facts.unterminated_licenses += 1
        elif section.name == ".BTF":
            facts.has_btf = True
        elif section.name == ".BTF.ext":
            facts.has_btf_ext = True
        if section.executable and section.name != ".text" and section.size and section.data is not None:
            _programs(obj, section, facts)
            called |= helper_calls(section.data, obj.little_endian) & GPL_ONLY_HELPERS.keys()
    facts.helpers = sorted({GPL_ONLY_HELPERS[h] for h in called})
    for symbol in obj.symbols:
        if symbol.shndx == elf.SHN_UNDEF and symbol.name and symbol.type not in (3, 4):
            facts.undefined.append(symbol.name)  # not STT_SECTION, STT_FILE
    facts.maps = _legacy_maps(obj)
    btf_section = obj.section(".BTF")
    if btf_section is not None:
        facts.btf = btf_section.data or b""
    return facts


def _programs(obj: elf.EbpfObject, section: elf.Section, facts: ObjectFacts) -> None:
    name = section.name or f"#{section.index}"
    kind = section_program_type(name)
    functions = [s for s in obj.symbols if s.shndx == section.index and s.type == elf.STT_FUNC]
    if not functions:
        facts.programs.append(ObjectProgram("?", name, kind, section.size // 8))
    for symbol in functions:
        size = symbol.size or section.size
        facts.programs.append(ObjectProgram(symbol.name or "?", name, kind, size // 8))


def _legacy_maps(obj: elf.EbpfObject) -> list[ObjectMap]:
    """The `maps` section's definitions, one per symbol (short ones have unknown fields)."""
    maps_section = obj.section("maps")
    if maps_section is None:
        return []
    order = "<" if obj.little_endian else ">"
    raw = maps_section.data or b""
    found = []
    for symbol in obj.symbols:
        if symbol.shndx != maps_section.index or symbol.type == elf.STT_SECTION or not symbol.name:
            continue
        offset = symbol.value
        if offset + 16 <= len(raw):
            kind, key, value, entries = struct.unpack_from(order + "IIII", raw, offset)
            found.append(ObjectMap(symbol.name, MAP_TYPES.get(kind, f"type {kind}"), key, value, entries))
        else:
            found.append(ObjectMap(symbol.name, "unknown", None, None, None))
    return found
