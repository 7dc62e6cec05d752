"""aya-obj 0.3.0's `Object::parse`: license, version, symbols, and each section as Aya makes
maps, functions and programs of it; then the checks of `relocate_maps` / `relocate_calls`.
"""

from __future__ import annotations

import struct

from buildbpf.objects._aya_btf import Btf, check_btf_ext
from buildbpf.objects._aya_relocate import Code, Function, loader_checks
from buildbpf.objects.elf import (
    _U64,
    BSS_LIMIT,
    MINIMUM_MAP_SIZE,
    SHF_ALLOC,
    SHN_LORESERVE,
    SHN_UNDEF,
    SHN_XINDEX,
    SHT_DYNSYM,
    SHT_SYMTAB,
    STT_FUNC,
    STT_GNU_IFUNC,
    ElfReader,
    LegacyMap,
    Program,
    Refused,
    Section,
    Symbol,
)
from buildbpf.objects.sections import aya_accepts


class AyaReader:
    """The object as aya-obj reads it, on top of the ELF container `object` read."""

    def __init__(self, elf: ElfReader, *, before_0_12: bool = False) -> None:
        self.elf = elf
        self.before_0_12 = before_0_12  # section names as Aya before 0.12 read them
        self.obj = elf.obj
        self.order = elf.order
        self.chains: dict[int, list[int]] = {}
        self.section_relocations: dict[int, dict[int, tuple[int, int]]] = {}
        self.by_section: dict[int, list[Symbol]] = {}
        self.btf: Btf | None = None
        self.code = Code()

    def run(self) -> None:
        """aya-obj's Object::parse, then what EbpfLoader::load checks before the kernel."""
        symtab, raw_symbols, strings, shndx = self.elf.symbol_table(SHT_SYMTAB)
        self.elf.symbol_table(SHT_DYNSYM)  # object reads it too, and fails on the same errors
        self.chains = self.elf.relocation_chains(symtab)
        self._symbols(raw_symbols, strings, shndx)
        self._license_and_version()
        bad_name = next((s for s in self.obj.symbols if s.name is None), None)
        if bad_name is not None:
            raise Refused(f"BTF error: invalid symbol name (symbol {bad_name.index})")
        for symbol in self.obj.symbols:
            if symbol.section is not None:
                self.by_section.setdefault(symbol.section, []).append(symbol)
        btf = self._by_name(".BTF")
        if btf is not None:
            self.btf = Btf.parse(self._checked(btf).data or b"", self.order)
            ext = self._by_name(".BTF.ext")
            if ext is not None:
                check_btf_ext(self._checked(ext).data or b"", self.order, self.btf)
        for section in self.obj.sections[1:]:
            if section.name in (".BTF", ".BTF.ext"):
                continue
            self._section(self._checked(section))
        loader_checks(self.obj, self.code)

    def _symbols(
        self, raw_symbols: list[tuple[int, ...]], strings: tuple[int, int] | None, shndx: list[int]
    ) -> None:
        for index, (st_name, info, _other, st_shndx, value, size) in enumerate(raw_symbols):
            if index == 0:
                continue
            if st_shndx == SHN_XINDEX:
                extended = shndx[index] if index < len(shndx) else None
                where = extended or None
            else:
                where = st_shndx if SHN_UNDEF < st_shndx < SHN_LORESERVE else None
            name = self.elf.string(strings, st_name)
            self.obj.symbols.append(Symbol(index, name, info & 0xF, info >> 4, st_shndx, where, value, size))

    def _license_and_version(self) -> None:
        license = self._by_name("license")
        if license is not None:
            text = self._checked(license).data or b""
            if len(text) < 2 or text[-1] != 0 or b"\0" in text[:-1]:
                raise Refused(
                    "invalid license: not a NUL-terminated string of 2 bytes or more", section="license"
                )
        version = self._by_name("version")
        if version is not None and len(self._checked(version).data or b"") != 4:
            raise Refused("invalid kernel version: the `version` section is not 4 bytes")

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
            for offset, sym, size in self.elf.relocation_entries(self.obj.sections[index]):
                if sym == 0:
                    raise Refused("unsupported relocation target")
                found[offset] = (sym, size)
        self.section_relocations[section.index] = found
        return section

    def _section(self, section: Section) -> None:
        name = section.name or ""
        relocations = self.section_relocations.get(section.index, {})
        if name.startswith(("license", "version")):
            return
        if name.startswith("maps"):
            self._legacy_maps(section)
        elif name.startswith(".maps"):
            self._btf_maps(section)
        elif name.startswith(".text"):
            self._text(section)
            if relocations:
                self.code.relocations[section.index] = relocations
        elif name.startswith((".bss", ".data", ".rodata")):
            self._data_map(section)
        elif section.type == 1 and section.flags & SHF_ALLOC and section.executable and section.size:
            self._programs(section)
            if relocations:
                self.code.relocations[section.index] = relocations

    def _btf_maps(self, section: Section) -> None:
        if self.btf is None:
            raise Refused("no BTF parsed for object")
        if section.index not in self.by_section:
            raise Refused(f"no symbols found in the {section.name} section")
        self.btf.datasec_names()  # BTF maps: only what aya-ebpf objects never hold is left unread

    def _data_map(self, section: Section) -> None:
        """`.bss`, `.data`, `.rodata`: each becomes a map holding the section's bytes."""
        if (section.name or "").startswith(".bss"):
            if section.size >= BSS_LIMIT:
                raise Refused(f"section {section.name} asks for {section.size} bytes of memory")
            self.code.map_sections[section.index] = bytes(1) if section.size else b""
        else:
            self.code.map_sections[section.index] = section.data or b""

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
            self.code.legacy_symbols[symbol.index] = section.index
        self.code.map_sections[section.index] = b""  # legacy maps hold no data

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
            self.code.functions[(section.index, found.value)] = Function(
                section.index, address, offset, found.name or "", code
            )
            offset += found.size

    def _programs(self, section: Section) -> None:
        name = section.name or ""
        if not aya_accepts(name, before_0_12=self.before_0_12):
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
            self.code.functions[(section.index, symbol.value)] = Function(
                section.index, symbol.value, offset, symbol.name, code
            )
            self.code.programs[symbol.name] = (section.index, symbol.value)

    # --- aya_obj::btf::BtfExt::parse --------------------------------------------------------
