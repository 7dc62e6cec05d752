"""An eBPF object read the way Aya's loader reads it, so `check` refuses exactly what Aya refuses.

`parse` reads the bytes once: the ELF container as the `object` 0.39 crate reads it (here:
header, section table, symbol tables, relocation sections), then the object as aya-obj
0.3.0 reads it (`_aya_parse`: `Object::parse`; `_aya_btf`: `Btf`/`BtfExt::parse`;
`_aya_relocate`: `relocate_maps` / `relocate_calls` and the map type check of aya 0.14's
`EbpfLoader::load`). The result holds what the gate and `check` report (through
`facts.read_facts`) and `refusal`: why Aya would refuse the object before the kernel sees
it, or None. Where Aya panics on a malformed object (an out-of-range slice), the object is
refused too (PITFALLS #32). Nothing here raises for a bad file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

EM_BPF = 247
SHT_RELA, SHT_NOBITS, SHT_REL, SHT_DYNSYM, SHT_SYMTAB_SHNDX = 4, 8, 9, 11, 18
SHT_SYMTAB, SHT_STRTAB, SHT_CREL = 2, 3, 0x40000014
_RELOCATION_TYPES = (SHT_REL, SHT_RELA, SHT_CREL)
SHF_ALLOC, SHF_EXECINSTR = 0x2, 0x4
STT_OBJECT, STT_FUNC, STT_SECTION, STT_COMMON, STT_GNU_IFUNC = 1, 2, 3, 5, 10
SHN_UNDEF, SHN_LORESERVE, SHN_XINDEX = 0, 0xFF00, 0xFFFF
MAP_TYPES_KNOWN = range(0, 34)  # BPF_MAP_TYPE_UNSPEC .. BPF_MAP_TYPE_ARENA (aya-obj maps.rs)
MAPS_OF_MAPS = (12, 13)
MINIMUM_MAP_SIZE = 20  # aya-obj: size_of::<u32>() * 5
# Aya allocates a `.bss` map's whole size in memory; the kernel caps a map value far lower
BSS_LIMIT = 1 << 30
_U32 = (1 << 32) - 1
_U64 = (1 << 64) - 1


class Refused(Exception):
    """Aya's loader refuses the object (an error it returns, or a panic)."""

    def __init__(self, message: str, *, section: str | None = None) -> None:
        super().__init__(message)
        self.section = section  # the section at fault, when the fix is about it ("license")


@dataclass
class Section:
    """One section header, with its bytes when they lie inside the file."""

    index: int
    name: str | None  # None: the name cannot be read (Aya refuses the object)
    type: int
    flags: int
    addr: int
    offset: int
    size: int
    link: int
    info: int
    data: bytes | None  # None: outside the file

    @property
    def executable(self) -> bool:
        """SHF_EXECINSTR: the section holds code."""
        return bool(self.flags & SHF_EXECINSTR)


@dataclass
class Symbol:
    """One symbol-table entry (index 0, the null symbol, is not kept)."""

    index: int
    name: str | None
    type: int
    bind: int
    shndx: int  # raw st_shndx
    section: int | None  # the section index Aya uses, None when undefined/special
    value: int
    size: int

    @property
    def is_definition(self) -> bool:
        """object's Sym::is_definition."""
        if self.shndx == SHN_UNDEF or (self.shndx >= SHN_LORESERVE and self.shndx != SHN_XINDEX):
            return False
        if self.type == 0 and self.bind == 0:
            return not (self.name or "").startswith("$")
        return self.type in (0, STT_OBJECT, STT_FUNC)


@dataclass
class Program:
    """A function in a program section, as Aya makes a program of it."""

    name: str
    section: str
    instructions: int


@dataclass
class LegacyMap:
    """A `maps` section definition (`struct bpf_map_def`, short ones zero-padded)."""

    name: str
    map_type: int
    key_size: int
    value_size: int
    max_entries: int


@dataclass
class EbpfObject:
    """Everything read from one object, and whether Aya would refuse it."""

    little_endian: bool = True
    elfclass: int = 0  # 1 (32-bit) or 2 (64-bit); 0 when the header is unreadable
    e_type: int = 0
    e_machine: int = 0
    sections: list[Section] = field(default_factory=list)
    symbols: list[Symbol] = field(default_factory=list)
    programs: list[Program] = field(default_factory=list)
    maps: list[LegacyMap] = field(default_factory=list)
    refusal: str | None = None
    refused_section: str | None = None  # the section the refusal is about, when known

    def section(self, name: str) -> Section | None:
        """The first section called `name`."""
        return next((s for s in self.sections if s.name == name), None)



def parse(data: bytes, *, before_0_12: bool = False) -> EbpfObject:
    """Read `data` as Aya would; `refusal` says why Aya would refuse it. Never raises.
    `before_0_12`: program sections as Aya before 0.12 named them (crates on aya-bpf)."""
    obj = EbpfObject()
    try:
        reader = ElfReader(data, obj)
        reader.run()
        if obj.elfclass == 2:  # the gate refuses ELFCLASS32; Aya would read it as another layout
            from buildbpf.objects._aya_parse import AyaReader

            AyaReader(reader, before_0_12=before_0_12).run()
    except Refused as refused:
        obj.refusal = str(refused)
        obj.refused_section = refused.section
    except (struct.error, IndexError, ValueError, KeyError, OverflowError, RecursionError) as exc:
        obj.refusal = f"unreadable ({type(exc).__name__}: {exc})"
    return obj


class ElfReader:
    """The ELF container as the `object` crate reads it: header, section table, symbol tables."""

    def __init__(self, data: bytes, obj: EbpfObject) -> None:
        self.data = data
        self.obj = obj
        self.order = "<"

    def bytes_at(self, offset: int, size: int) -> bytes | None:
        """object's ReadRef::read_bytes_at: an empty range is always readable."""
        if size == 0:
            return b""
        if offset + size > len(self.data):
            return None
        return self.data[offset : offset + size]

    def string(self, table: tuple[int, int] | None, offset: int) -> str | None:
        """object's StringTable::get, then UTF-8 (None: Aya cannot read this name)."""
        if table is None:
            return None
        start, end = table
        begin = start + offset
        if begin > end or end > len(self.data):
            return None
        stop = self.data.find(b"\0", begin, end)
        if stop < 0:
            return None
        try:
            return self.data[begin:stop].decode("utf-8")
        except UnicodeDecodeError:
            return None

    def run(self) -> None:
        """object's File::parse: the header, then the section table (ELFCLASS64 only)."""
        self._header()
        self._sections()

    # --- object::read::File::parse ------------------------------------------------------

    def _header(self) -> None:
        data = self.data
        if len(data) < 16:
            raise Refused("error parsing ELF data: File too short")
        if data[:4] != b"\x7fELF" or data[4] not in (1, 2):
            raise Refused("error parsing ELF data: Unknown file magic")
        if data[4] == 1:
            self.obj.elfclass = 1
            return
        if len(data) < 64:
            raise Refused("error parsing ELF data: Invalid ELF header size or alignment")
        if data[5] not in (1, 2) or data[6] != 1:
            raise Refused("error parsing ELF data: Unsupported ELF header")
        self.obj.elfclass = 2  # only once the whole header is readable
        self.obj.little_endian = data[5] == 1
        self.order = "<" if self.obj.little_endian else ">"
        self.obj.e_type, self.obj.e_machine = struct.unpack_from(self.order + "HH", data, 16)

    def _section_0(self, shoff: int, shentsize: int) -> tuple[int, ...] | None:
        if shoff == 0:
            return None
        if shentsize != 64:
            raise Refused("error parsing ELF data: Invalid ELF section header entry size")
        raw = self.bytes_at(shoff, 64)
        if raw is None:
            raise Refused("error parsing ELF data: Invalid ELF section header offset or size")
        return struct.unpack(self.order + "IIQQQQIIQQ", raw)

    def _program_headers(self, phoff: int, phentsize: int, phnum: int, shoff: int, shentsize: int) -> None:
        """object reads the program header table too (eBPF objects have none)."""
        if phnum == 0xFFFF:
            zero = self._section_0(shoff, shentsize)
            if zero is None:
                raise Refused("error parsing ELF data: Missing ELF section headers for e_phnum overflow")
            phnum = zero[7]
        if phnum:
            if phentsize != 56:
                raise Refused("error parsing ELF data: Invalid ELF program header entry size")
            if self.bytes_at(phoff, 56 * phnum) is None:
                raise Refused("error parsing ELF data: Invalid ELF program header size or alignment")

    def _sections(self) -> None:
        if self.obj.elfclass != 2:
            return
        order, data = self.order, self.data
        phoff, shoff = struct.unpack_from(order + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(order + "HHHHH", data, 54)
        if phoff:
            self._program_headers(phoff, phentsize, phnum, shoff, shentsize)
        if shoff == 0:
            return
        if shnum == 0:
            zero = self._section_0(shoff, shentsize)
            shnum = zero[5] if zero is not None else 0
        if shnum == 0:
            return
        if shentsize != 64:
            raise Refused("error parsing ELF data: Invalid ELF section header entry size")
        if self.bytes_at(shoff, 64 * shnum) is None:
            raise Refused("error parsing ELF data: Invalid ELF section header offset/size/alignment")
        headers = [struct.unpack_from(order + "IIQQQQIIQQ", data, shoff + 64 * i) for i in range(shnum)]
        if shstrndx == SHN_XINDEX:
            shstrndx = headers[0][6]
        if shstrndx == 0:
            raise Refused("error parsing ELF data: Missing ELF e_shstrndx")
        if shstrndx >= shnum:
            raise Refused("error parsing ELF data: Invalid ELF e_shstrndx")
        names = self._table(headers[shstrndx], "shstrtab")
        for index, (name, kind, flags, addr, offset, size, link, info, _, _) in enumerate(headers):
            raw = b"" if kind == SHT_NOBITS else self.bytes_at(offset, size)
            self.obj.sections.append(
                Section(index, self.string(names, name), kind, flags, addr, offset, size, link, info, raw)
            )

    def _table(self, header: tuple[int, ...], what: str) -> tuple[int, int] | None:
        """A string table's file range (None: no table, every name lookup fails)."""
        if header[1] == SHT_NOBITS:
            return None
        offset, size = header[4], header[5]
        if offset + size > _U64:
            raise Refused(f"error parsing ELF data: Invalid ELF {what} size")
        return offset, offset + size

    def symbol_table(
        self, kind: int
    ) -> tuple[int, list[tuple[int, ...]], tuple[int, int] | None, list[int]]:
        """object's SymbolTable::parse for the first section of `kind`: (index, raw, strings, shndx)."""
        sections = self.obj.sections
        table = next((s for s in sections if s.type == kind), None)
        if table is None:
            return 0, [], None, []
        if table.data is None or len(table.data) % 24:
            raise Refused("error parsing ELF data: Invalid ELF symbol table data")
        raw = [
            struct.unpack_from(self.order + "IBBHQQ", table.data, i) for i in range(0, len(table.data), 24)
        ]
        strings: tuple[int, int] | None = None
        if table.link:
            if table.link >= len(sections):
                raise Refused("error parsing ELF data: Invalid ELF section index")
            linked = sections[table.link]
            if linked.type != SHT_STRTAB:
                raise Refused("error parsing ELF data: Invalid ELF string section type")
            if linked.offset + linked.size > _U64:
                raise Refused("error parsing ELF data: Invalid ELF string section offset or size")
            strings = (linked.offset, linked.offset + linked.size)
        shndx: list[int] = []
        for section in sections:
            if section.type == SHT_SYMTAB_SHNDX and section.link == table.index:
                if section.data is None or len(section.data) % 4:
                    raise Refused("error parsing ELF data: Invalid ELF symtab_shndx data")
                shndx = list(struct.unpack(f"{self.order}{len(section.data) // 4}I", section.data))
        return table.index, raw, strings, shndx

    def relocation_chains(self, symtab: int) -> dict[int, list[int]]:
        """object's RelocationSections::parse: target section -> its relocation sections."""
        sections = self.obj.sections
        chains: dict[int, list[int]] = {}
        for section in reversed(sections):
            if section.type not in _RELOCATION_TYPES or section.link != symtab or section.info == 0:
                continue
            if section.info >= len(sections):
                raise Refused("error parsing ELF data: Invalid ELF sh_info for relocation section")
            if sections[section.info].type in _RELOCATION_TYPES:
                raise Refused("error parsing ELF data: Unsupported ELF sh_info for relocation section")
            chains.setdefault(section.info, []).insert(0, section.index)
        return chains

    # --- aya_obj::Object::parse -----------------------------------------------------------
    def relocation_entries(self, section: Section) -> list[tuple[int, int, int]]:
        """(r_offset, r_sym, size in bits) per entry; unreadable tables are skipped, as object does."""
        if section.type == SHT_CREL:
            return []  # compact relocations: not produced for eBPF, and not read here
        width = 16 if section.type == SHT_REL else 24
        if section.data is None or len(section.data) % width:
            return []
        entries = []
        for at in range(0, len(section.data), width):
            r_offset, r_info = struct.unpack_from(self.order + "QQ", section.data, at)
            r_type = r_info & _U32
            size = {1: 64, 10: 32}.get(r_type, 0) if self.obj.e_machine == EM_BPF else -1
            entries.append((r_offset, r_info >> 32, size))
        return entries

