"""An eBPF object read the way Aya's loader reads it, so `check` refuses exactly what Aya refuses.

One pass over the bytes gives both what the artifact gate and `check` report (header,
sections, symbols, programs, maps, license, BTF) and `refusal`: why aya-obj 0.3.0 (with the
`object` 0.39 ELF reader under it) would refuse the object before the kernel sees it, or
None when it would not. The rules follow `Object::parse` (obj.rs), `BtfExt::parse`,
`relocate_maps` / `relocate_calls` (relocation.rs) and the map type check of aya 0.14's
`EbpfLoader::load`, including the places where Aya panics on a malformed object (an
out-of-range slice): a panic refuses the object too (PITFALLS #32). Nothing here raises
for a bad file.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from buildbpf.objects.sections import aya_accepts

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
    def is_definition(self) -> bool:  # object's Sym::is_definition
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

    def section(self, name: str) -> Section | None:
        return next((s for s in self.sections if s.name == name), None)


@dataclass
class _Function:
    section: int
    address: int
    offset: int  # byte offset in its section
    name: str
    code: list[list[int]]  # [opcode, regs, off, imm] per instruction, changed by relocation


def parse(data: bytes) -> EbpfObject:
    """Read `data` as Aya would; `refusal` says why Aya would refuse it. Never raises."""
    obj = EbpfObject()
    try:
        _Reader(data, obj).run()
    except Refused as refused:
        obj.refusal = str(refused)
    except (struct.error, IndexError, ValueError, KeyError, OverflowError, RecursionError) as exc:
        obj.refusal = f"unreadable ({type(exc).__name__}: {exc})"
    return obj


class _Reader:
    def __init__(self, data: bytes, obj: EbpfObject) -> None:
        self.data = data
        self.obj = obj
        self.order = "<"
        self.chains: dict[int, list[int]] = {}
        self.section_relocations: dict[int, dict[int, tuple[int, int]]] = {}
        self.by_section: dict[int, list[Symbol]] = {}
        self.functions: dict[tuple[int, int], _Function] = {}
        self.relocations: dict[int, dict[int, tuple[int, int]]] = {}  # section -> offset -> (sym, size)
        self.map_sections: dict[int, bytes] = {}  # section index -> data of the map made of it
        self.legacy_symbols: dict[int, int] = {}  # symbol index -> section index
        self.programs: dict[str, tuple[int, int]] = {}  # program name -> its function's key
        self.btf: _Btf | None = None

    def _bytes_at(self, offset: int, size: int) -> bytes | None:
        """object's ReadRef::read_bytes_at: an empty range is always readable."""
        if size == 0:
            return b""
        if offset + size > len(self.data):
            return None
        return self.data[offset : offset + size]

    def _string(self, table: tuple[int, int] | None, offset: int) -> str | None:
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
        self._header()
        self._sections()
        if self.obj.elfclass != 2:
            return  # the gate refuses ELFCLASS32; Aya would read it as another layout
        self._aya()

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
        raw = self._bytes_at(shoff, 64)
        if raw is None:
            raise Refused("error parsing ELF data: Invalid ELF section header offset or size")
        return struct.unpack(self.order + "IIQQQQIIQQ", raw)

    def _sections(self) -> None:
        if self.obj.elfclass != 2:
            return
        order, data = self.order, self.data
        phoff, shoff = struct.unpack_from(order + "QQ", data, 32)
        phentsize, phnum, shentsize, shnum, shstrndx = struct.unpack_from(order + "HHHHH", data, 54)
        if phoff:
            if phnum == 0xFFFF:
                zero = self._section_0(shoff, shentsize)
                if zero is None:
                    raise Refused("error parsing ELF data: Missing ELF section headers for e_phnum overflow")
                phnum = zero[7]
            if phnum:
                if phentsize != 56:
                    raise Refused("error parsing ELF data: Invalid ELF program header entry size")
                if self._bytes_at(phoff, 56 * phnum) is None:
                    raise Refused("error parsing ELF data: Invalid ELF program header size or alignment")
        if shoff == 0:
            return
        if shnum == 0:
            zero = self._section_0(shoff, shentsize)
            shnum = zero[5] if zero is not None else 0
        if shnum == 0:
            return
        if shentsize != 64:
            raise Refused("error parsing ELF data: Invalid ELF section header entry size")
        if self._bytes_at(shoff, 64 * shnum) is None:
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
            raw = b"" if kind == SHT_NOBITS else self._bytes_at(offset, size)
            self.obj.sections.append(
                Section(index, self._string(names, name), kind, flags, addr, offset, size, link, info, raw)
            )

    def _table(self, header: tuple[int, ...], what: str) -> tuple[int, int] | None:
        """A string table's file range (None: no table, every name lookup fails)."""
        if header[1] == SHT_NOBITS:
            return None
        offset, size = header[4], header[5]
        if offset + size > _U64:
            raise Refused(f"error parsing ELF data: Invalid ELF {what} size")
        return offset, offset + size

    def _symbol_table(
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

    def _relocation_chains(self, symtab: int) -> dict[int, list[int]]:
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

    def _aya(self) -> None:
        obj, order = self.obj, self.order
        symtab, raw_symbols, strings, shndx = self._symbol_table(SHT_SYMTAB)
        self._symbol_table(SHT_DYNSYM)  # object reads it too, and fails on the same errors
        self.chains = self._relocation_chains(symtab)
        for index, (st_name, info, _other, st_shndx, value, size) in enumerate(raw_symbols):
            if index == 0:
                continue
            if st_shndx == SHN_XINDEX:
                extended = shndx[index] if index < len(shndx) else None
                where = extended or None
            else:
                where = st_shndx if SHN_UNDEF < st_shndx < SHN_LORESERVE else None
            name = self._string(strings, st_name)
            obj.symbols.append(Symbol(index, name, info & 0xF, info >> 4, st_shndx, where, value, size))
        license = self._by_name("license")
        if license is not None:
            text = self._checked(license).data or b""
            if len(text) < 2 or text[-1] != 0 or b"\0" in text[:-1]:
                raise Refused("invalid license: not a NUL-terminated string of 2 bytes or more")
        version = self._by_name("version")
        if version is not None and len(self._checked(version).data or b"") != 4:
            raise Refused("invalid kernel version: the `version` section is not 4 bytes")
        bad_name = next((s for s in obj.symbols if s.name is None), None)
        if bad_name is not None:
            raise Refused(f"BTF error: invalid symbol name (symbol {bad_name.index})")
        for symbol in obj.symbols:
            if symbol.section is not None:
                self.by_section.setdefault(symbol.section, []).append(symbol)
        btf = self._by_name(".BTF")
        if btf is not None:
            self.btf = _Btf.parse(self._checked(btf).data or b"", order)
            ext = self._by_name(".BTF.ext")
            if ext is not None:
                self._btf_ext(self._checked(ext).data or b"")
        for section in obj.sections[1:]:
            if section.name in (".BTF", ".BTF.ext"):
                continue
            self._section(self._checked(section))
        self._loader_checks()

    def _by_name(self, name: str) -> Section | None:
        return next((s for s in self.obj.sections if s.name == name), None)

    def _checked(self, section: Section) -> Section:
        """aya-obj's Section::try_from: a readable name and data, relocations with a symbol."""
        if section.name is None:
            raise Refused(f"error parsing section with index {section.index}: unreadable name")
        if section.data is None:
            raise Refused(
                f"error parsing section with index {section.index}: Invalid ELF section size or offset"
            )
        found: dict[int, tuple[int, int]] = {}
        for index in self.chains.get(section.index, []):
            for offset, sym, size in self._relocation_entries(self.obj.sections[index]):
                if sym == 0:
                    raise Refused("unsupported relocation target")
                found[offset] = (sym, size)
        self.section_relocations[section.index] = found
        return section

    def _relocation_entries(self, section: Section) -> list[tuple[int, int, int]]:
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

    def _section(self, section: Section) -> None:
        name = section.name or ""
        data = section.data or b""
        relocations = self.section_relocations.get(section.index, {})
        if name.startswith(("license", "version")):
            return
        if name.startswith("maps"):
            self._legacy_maps(section)
        elif name.startswith(".maps"):
            if self.btf is None:
                raise Refused("no BTF parsed for object")
            if section.index not in self.by_section:
                raise Refused(f"no symbols found in the {name} section")
            self.btf.datasec_names()  # BTF maps: only what aya-ebpf objects never hold is left unread
        elif name.startswith(".text"):
            self._text(section)
            if relocations:
                self.relocations[section.index] = relocations
        elif name.startswith((".bss", ".data", ".rodata")):
            if name.startswith(".bss"):
                if section.size >= BSS_LIMIT:
                    raise Refused(f"section {name} asks for {section.size} bytes of memory")
                self.map_sections[section.index] = bytes(1) if section.size else b""
            else:
                self.map_sections[section.index] = data
        elif section.type == 1 and section.flags & SHF_ALLOC and section.executable and section.size:
            self._programs(section)
            if relocations:
                self.relocations[section.index] = relocations

    def _legacy_maps(self, section: Section) -> None:
        symbols = self.by_section.get(section.index)
        if not symbols:
            raise Refused(f"no symbols found in the {section.name} section")
        data = section.data or b""
        for symbol in symbols:
            start, end = symbol.value, symbol.value + symbol.size
            if end > _U64 or start > end or end > len(data):  # Aya slices: a panic
                raise Refused(f"map {symbol.name}: its definition lies outside the {section.name} section")
            raw = data[start:end]
            if len(raw) < MINIMUM_MAP_SIZE:
                raise Refused(f"error parsing map `{symbol.name}` (a definition of {len(raw)} bytes)")
            fields = struct.unpack_from(self.order + "IIII", raw)
            self.obj.maps = [m for m in self.obj.maps if m.name != symbol.name]
            self.obj.maps.append(LegacyMap(symbol.name or "", *fields))
            self.legacy_symbols[symbol.index] = section.index
        self.map_sections[section.index] = b""  # legacy maps hold no data

    def _instructions(self, raw: bytes) -> list[list[int]]:
        if len(raw) % 8:
            raise Refused("invalid program code")
        code = []
        for at in range(0, len(raw), 8):
            opcode, regs, off, imm = struct.unpack_from(self.order + "BBhi", raw, at)
            code.append([opcode, regs, off, imm])
        return code

    def _text(self, section: Section) -> None:
        by_address: dict[int, Symbol] = {}
        for symbol in self.obj.symbols:
            if (
                symbol.is_definition
                and symbol.type in (STT_FUNC, STT_GNU_IFUNC)
                and symbol.section == section.index
            ):
                if symbol.value in by_address:
                    raise Refused(
                        f"two or more symbols in section `{section.index}` have the same address "
                        f"{symbol.value:#x}"
                    )
                by_address[symbol.value] = symbol
        data = section.data or b""
        offset = 0
        while offset < len(data):
            address = (section.addr + offset) & _U64
            found = by_address.get(address)
            if found is None:
                raise Refused(f"unknown symbol in section `{section.index}` at address {address:#x}")
            if found.size == 0:
                raise Refused(f"invalid symbol, index `{found.index}` name: {found.name}")
            if offset + found.size > len(data):
                raise Refused(f"function {found.name} runs past the end of {section.name}")
            code = self._instructions(data[offset : offset + found.size])
            self.functions[(section.index, found.value)] = _Function(
                section.index, address, offset, found.name or "", code
            )
            offset += found.size

    def _programs(self, section: Section) -> None:
        name = section.name or ""
        if not aya_accepts(name):
            raise Refused(f"invalid program section `{name}`")
        symbols = self.by_section.get(section.index)
        if symbols is None:
            raise Refused(f"no symbols found in the {name} section")
        data = section.data or b""
        for symbol in symbols:
            if symbol.type not in (STT_FUNC, STT_GNU_IFUNC) or not symbol.name:
                continue
            start, end = symbol.value, (symbol.value + symbol.size) & _U64
            if start > end or end > len(data):  # Aya slices: a panic
                raise Refused(f"program {symbol.name} lies outside its section {name}")
            code = self._instructions(data[start:end])
            self.obj.programs = [p for p in self.obj.programs if p.name != symbol.name]
            self.obj.programs.append(Program(symbol.name, name, len(code)))
            offset = (symbol.value - section.addr) & _U64
            self.functions[(section.index, symbol.value)] = _Function(
                section.index, symbol.value, offset, symbol.name, code
            )
            self.programs[symbol.name] = (section.index, symbol.value)

    # --- aya_obj::btf::BtfExt::parse --------------------------------------------------------

    def _btf_ext(self, data: bytes) -> None:
        if len(data) < 8:
            raise Refused("BTF error: invalid .BTF.ext header")
        (hdr_len,) = struct.unpack_from(self.order + "I", data, 4)
        if len(data) < hdr_len:
            raise Refused("BTF error: invalid .BTF.ext header")
        header = (data[: min(hdr_len, 32)] + bytes(32))[:32]
        _, _, _, hdr_len, *fields = struct.unpack(self.order + "HBBIIIIIII", header)
        records = []
        for off, length in zip(fields[0::2], fields[1::2], strict=True):
            start = hdr_len + off
            if 0 < length < 4 or start + length > len(data):
                raise Refused(
                    f"BTF error: invalid BTF info, offset: {start} len: {length} section_len: {len(data)}"
                )
            rec_size = struct.unpack_from(self.order + "I", data, start)[0] if length else 0
            body = data[start + 4 : start + length] if length else b""
            records.append((rec_size, body))
        assert self.btf is not None
        for kind, (rec_size, body) in zip(("func_info", "line_info", "core_relo"), records, strict=True):
            minimum = {"func_info": 8, "line_info": 16, "core_relo": 16}[kind]
            for name_offset, chunk in self._sec_infos(body, rec_size):
                if kind != "core_relo" and not self.btf.has_string(name_offset):
                    raise Refused(f"BTF error: .BTF.ext {kind} names a section at a bad string offset")
                if rec_size == 0:
                    raise Refused(f".BTF.ext {kind} records have size 0")
                for at in range(0, len(chunk), rec_size):
                    record = chunk[at : at + rec_size]
                    if len(record) < minimum:
                        raise Refused(f"BTF error: a .BTF.ext {kind} record is {len(record)} bytes")
                    if kind == "core_relo" and struct.unpack_from(self.order + "I", record, 12)[0] > 11:
                        raise Refused("BTF error: invalid CO-RE relocation kind")

    def _sec_infos(self, body: bytes, rec_size: int) -> list[tuple[int, bytes]]:
        """aya-obj's SecInfoIter: (section name offset, records) until fewer than 9 bytes remain."""
        found, offset = [], 0
        while offset + 8 < len(body):
            name_offset, count = struct.unpack_from(self.order + "II", body, offset)
            offset += 8
            end = offset + rec_size * count
            if end > len(body):  # Aya slices: a panic
                raise Refused(".BTF.ext: a section's records run past the end of the section")
            found.append((name_offset, body[offset:end]))
            offset = end
        return found

    # --- aya 0.14 EbpfLoader::load, before the kernel: map types, relocate_maps/_calls ---------

    def _loader_checks(self) -> None:
        for m in self.obj.maps:
            if m.map_type not in MAP_TYPES_KNOWN:
                raise Refused(f"map `{m.name}`: invalid map type {m.map_type}")
            if m.map_type in MAPS_OF_MAPS:
                raise Refused(f"map `{m.name}`: a map of maps without an inner map definition")
        text_sections = {section for section, _ in self.functions}
        symbols = {s.index: s for s in self.obj.symbols}
        for function in self.functions.values():
            relocations = self.relocations.get(function.section)
            if relocations:
                self._relocate_maps(function, relocations, symbols, text_sections)
        for key in self.programs.values():
            self._link(self.functions[key], symbols, text_sections)

    def _relocate_maps(
        self,
        function: _Function,
        relocations: dict[int, tuple[int, int]],
        symbols: dict[int, Symbol],
        text_sections: set[int],
    ) -> None:
        start, end = function.offset, function.offset + 8 * len(function.code)
        for rel_offset, (sym_index, _size) in relocations.items():
            if not start <= rel_offset < end:
                continue
            if (rel_offset - start) % 8:
                raise Refused(f"error relocating `{function.name}`: invalid offset `{rel_offset}`")
            index = (rel_offset - start) // 8
            symbol = symbols.get(sym_index)
            if symbol is None:
                raise Refused(f"error relocating `{function.name}`: unknown symbol, index `{sym_index}`")
            if symbol.section is None:
                continue
            if _is_call(function.code[index], self.obj.little_endian) or symbol.section in text_sections:
                continue
            if sym_index in self.legacy_symbols:
                data = b""
            elif symbol.section in self.map_sections:
                data = self.map_sections[symbol.section]
            else:
                raise Refused(
                    f"error relocating `{function.name}`: section `{symbol.section}` not found, "
                    f"referenced by symbol `{symbol.name}` #{sym_index}"
                )
            instruction = function.code[index]
            if not data:
                instruction[1] = (instruction[1] & 0x0F) | (1 << 4 if self.obj.little_endian else 1)
            else:
                if index + 1 >= len(function.code):  # Aya writes the next instruction: a panic
                    raise Refused(f"error relocating `{function.name}`: a map load is cut off")
                instruction[1] = (instruction[1] & 0x0F) | (2 << 4 if self.obj.little_endian else 2)
                function.code[index + 1][3] = _i32(instruction[3] + symbol.value)
            instruction[3] = 1000  # a stand-in fd, as the helper's --parse-only uses

    def _link(self, program: _Function, symbols: dict[int, Symbol], text_sections: set[int]) -> None:
        """aya-obj's FunctionLinker: every call must reach a function it knows."""
        linked: set[int] = set()
        pending = [program]
        while pending:
            function = pending.pop()
            relocations = self.relocations.get(function.section, {})
            for number, instruction in enumerate(function.code):
                call = _is_call(instruction, self.obj.little_endian)
                found = relocations.get(function.offset + 8 * number)
                symbol = symbols.get(found[0]) if found else None
                if symbol is not None and not (
                    symbol.type in (STT_FUNC, STT_GNU_IFUNC)
                    or (symbol.section is not None and symbol.section in text_sections)
                ):
                    symbol = None
                if not call and symbol is None:
                    continue
                if symbol is not None and found is not None:
                    if symbol.type in (STT_FUNC, STT_GNU_IFUNC):
                        address = symbol.value
                    elif symbol.type == STT_SECTION and found[1] == 32:
                        address = (symbol.value + ((_i32(instruction[3] + 1) * 8) & _U64)) & _U64
                    elif symbol.type == STT_SECTION and found[1] == 64:
                        address = (symbol.value + (instruction[3] & _U64)) & _U64
                    elif found[1] == -1:
                        return  # another machine's relocation types: not judged here
                    else:  # Aya: todo!("FIXME: return an error here for kind=...")
                        raise Refused(f"relocating {function.name}: a relocation Aya cannot handle (a panic)")
                    if symbol.section is None:
                        raise Refused(
                            f"relocating {function.name}: a call to an undefined function (a panic)"
                        )
                    key = (symbol.section, address)
                else:
                    target = function.offset + 8 * number + 8 * (_i32(instruction[3] + 1))
                    key = (function.section, target & _U64)
                callee = self.functions.get(key)
                if callee is None:
                    raise Refused(
                        f"error relocating `{program.name}`: function {key[1]:#x} not found while "
                        f"relocating `{function.name}`"
                    )
                if callee.address not in linked:
                    linked.add(callee.address)
                    pending.append(callee)


def _i32(value: int) -> int:
    value &= _U32
    return value - (1 << 32) if value & 0x80000000 else value


def _is_call(instruction: list[int], little_endian: bool = True) -> bool:
    """aya-obj's insn_is_call: `call` with src_reg BPF_PSEUDO_CALL, dst 0, off 0."""
    opcode, regs, off, _ = instruction
    src, dst = (regs >> 4, regs & 0xF) if little_endian else (regs & 0xF, regs >> 4)
    return opcode == 0x85 and src == 1 and dst == 0 and off == 0


class _Btf:
    """aya-obj's Btf::parse: it checks offsets and type records, not the magic or names."""

    def __init__(
        self, hdr_len: int, str_off: int, str_len: int, strings: bytes, names: list[tuple[int, int]]
    ):
        self.hdr_len, self.str_off, self.str_len = hdr_len, str_off, str_len
        self.strings = strings
        self.names = names  # (kind, name offset) per type

    @classmethod
    def parse(cls, data: bytes, order: str) -> _Btf:
        if len(data) < 24:
            raise Refused("BTF error: invalid BTF header")
        _, _, _, hdr_len, type_off, type_len, str_off, str_len = struct.unpack_from(order + "HBBIIIII", data)
        if hdr_len + str_off + str_len > len(data):
            raise Refused("BTF error: invalid BTF header")
        strings = data[hdr_len + str_off : hdr_len + str_off + str_len]
        base = hdr_len + type_off
        if base + type_len > len(data):
            raise Refused("BTF error: invalid BTF type info")
        types = data[base : base + type_len]
        names, position = [], 0
        while position < len(types):
            if position + 12 > len(types):
                raise Refused("BTF error: invalid BTF type info")
            name_off, info, _ = struct.unpack_from(order + "III", types, position)
            kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
            if kind > 19:
                raise Refused(f"BTF error: invalid BTF kind {kind}")
            fixed, per = _BTF_EXTRA.get(kind, (0, 0))
            size = 12 + fixed + per * vlen
            if position + size > len(types):
                raise Refused("BTF error: invalid BTF type info")
            names.append((kind, name_off))
            position += size
        return cls(hdr_len, str_off, str_len, strings, names)

    def has_string(self, offset: int) -> bool:
        """string_at succeeds (its bound check, then a NUL inside the strings)."""
        if offset >= (self.str_off + self.hdr_len) % (1 << 32) + self.str_len:
            return False
        return offset <= len(self.strings) and self.strings.find(b"\0", offset) >= 0

    def datasec_names(self) -> None:
        """parse_btf_maps reads the name of every DATASEC type first."""
        for kind, name_off in self.names:
            if kind == 15 and not self.has_string(name_off):
                raise Refused("BTF error: a DATASEC type has a bad name offset")


# bytes after the 12-byte record: (fixed, per vlen entry), as aya-obj's BtfType::read reads them
_BTF_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12),
              17: (4, 0), 19: (0, 12)}  # fmt: skip
