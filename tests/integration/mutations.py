"""Structured corruptions of a real eBPF object, for the differential fuzz test of `check`.

Each mutation is plain data (a tuple) so hypothesis can shrink it; indices are taken modulo
what the object holds, so one strategy fits every object. Little-endian ELF64 only (the
objects the tests build).
"""

from __future__ import annotations

import contextlib
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import strategies as st

_SHDR = struct.Struct("<IIQQQQIIQQ")  # sh_name type flags addr offset size link info addralign entsize
_SYM = struct.Struct("<IBBHQQ")  # st_name info other shndx value size
_SHDR_FIELDS = ("name", "type", "flags", "addr", "offset", "size", "link", "info", "addralign", "entsize")
_SYM_FIELDS = ("name", "info", "other", "shndx", "value", "size")
_HEADER_FIELDS = {  # offset, struct format
    "e_shoff": (40, "<Q"), "e_shentsize": (58, "<H"), "e_shnum": (60, "<H"), "e_shstrndx": (62, "<H"),
    "e_phoff": (32, "<Q"), "e_phnum": (56, "<H"), "version": (6, "<B"), "class": (4, "<B"),
}  # fmt: skip
# .BTF.ext header fields after magic/version/flags (u32 each, from offset 4)
_BTF_EXT_FIELDS = ("hdr_len", "func_info_off", "func_info_len", "line_info_off", "line_info_len",
                   "core_relo_off", "core_relo_len")  # fmt: skip


@dataclass
class _Section:
    index: int
    name: str
    type: int
    offset: int
    size: int
    header: int  # file offset of the section header
    link: int


def _sections(data: bytes) -> list[_Section]:
    (shoff,) = struct.unpack_from("<Q", data, 40)
    shnum, shstrndx = struct.unpack_from("<HH", data, 60)
    headers = [_SHDR.unpack_from(data, shoff + 64 * i) for i in range(shnum)]
    strtab = headers[shstrndx][4]
    found = []
    for index, h in enumerate(headers):
        end = data.index(b"\0", strtab + h[0])
        name = data[strtab + h[0] : end].decode()
        found.append(_Section(index, name, h[1], h[4], h[5], shoff + 64 * index, h[6]))
    return found


def _value(choice: int, size: int, count: int, length: int) -> int:
    """Values that break parsers: 0, 1, just out of range, huge, all ones."""
    mask = (1 << (8 * size)) - 1
    table = [0, 1, count, count + 1, length, length + 1, 3, 7, mask, mask // 2, 1 << (8 * size - 1)]
    return table[choice % len(table)] & mask if choice < len(table) else choice & mask


_index = st.integers(0, 1 << 16)
_choice = st.integers(0, 40) | st.integers(0, (1 << 64) - 1)

MUTATION = st.one_of(
    st.tuples(st.just("section"), _index, st.sampled_from(_SHDR_FIELDS), _choice),
    st.tuples(st.just("link"), _index, st.sampled_from(("link", "info")), st.integers(0, 8)),
    st.tuples(st.just("symbol"), _index, st.sampled_from(_SYM_FIELDS), _choice),
    st.tuples(st.just("reloc_symbol"), _index, st.integers(0, 1 << 32)),
    st.tuples(st.just("reloc_offset"), _index, _choice),
    st.tuples(st.just("map_size"), _index, st.integers(0, 40)),
    st.tuples(st.just("btf_ext"), st.sampled_from(_BTF_EXT_FIELDS), _choice),
    st.tuples(st.just("btf_ext_rec_size"), st.integers(0, 2), st.integers(0, 64)),
    st.tuples(st.just("btf_header"), st.integers(0, 5), _choice),
    st.tuples(st.just("header"), st.sampled_from(sorted(_HEADER_FIELDS)), _choice),
    st.tuples(st.just("truncate"), st.integers(0, 1 << 20)),
    st.tuples(st.just("flip"), st.integers(0, 1 << 20), st.integers(0, 255)),
)


_NOT_APPLICABLE = (struct.error, ValueError, IndexError, KeyError, OverflowError, ZeroDivisionError)


def mutate(original: bytes, mutations: list[tuple[Any, ...]]) -> bytes:
    """Apply the mutations in order, each to the object as the previous ones left it."""
    data = bytearray(original)
    for kind, *args in mutations:
        if not data:
            break
        try:
            sections = _sections(bytes(data))
        except (struct.error, ValueError, IndexError, OverflowError):
            sections = []  # an earlier mutation broke the section table: only raw ones apply
        if not sections and kind not in ("flip", "truncate", "header"):
            continue
        # a section this object lacks, or a field earlier mutations moved outside the file: skipped
        with contextlib.suppress(*_NOT_APPLICABLE):
            _MUTATORS[kind](data, {s.name: s for s in sections}, sections, *args)
    return bytes(data)


Sections = dict[str, _Section]


def _flip(data: bytearray, _: Sections, __: list[_Section], position: int, value: int) -> None:
    data[position % len(data)] = value


def _truncate(data: bytearray, _: Sections, __: list[_Section], length: int) -> None:
    del data[length % len(data) :]


def _header(data: bytearray, _: Sections, sections: list[_Section], field: str, choice: int) -> None:
    offset, fmt = _HEADER_FIELDS[field]
    struct.pack_into(fmt, data, offset, _value(choice, struct.calcsize(fmt), len(sections), len(data)))


def _section_field(
    data: bytearray, _: Sections, sections: list[_Section], index: int, field: str, choice: int
) -> None:
    section = sections[index % len(sections)]
    values = list(_SHDR.unpack_from(data, section.header))
    slot = _SHDR_FIELDS.index(field)
    size = 4 if slot in (0, 1, 6, 7) else 8
    values[slot] = _value(choice, size, len(sections), len(data))
    _SHDR.pack_into(data, section.header, *values)


def _link(data: bytearray, _: Sections, sections: list[_Section], index: int, field: str, past: int) -> None:
    """sh_link or sh_info just past the last section, or a few more."""
    section = sections[index % len(sections)]
    values = list(_SHDR.unpack_from(data, section.header))
    values[_SHDR_FIELDS.index(field)] = len(sections) + past
    _SHDR.pack_into(data, section.header, *values)


def _symbol(
    data: bytearray, by_name: Sections, sections: list[_Section], index: int, field: str, choice: int
) -> None:
    symtab = by_name[".symtab"]
    at = symtab.offset + 24 * (index % (symtab.size // 24))
    values = list(_SYM.unpack_from(data, at))
    slot = _SYM_FIELDS.index(field)
    values[slot] = _value(choice, (4, 1, 1, 2, 8, 8)[slot], len(sections), len(data))
    _SYM.pack_into(data, at, *values)


def _relocation(sections: list[_Section], pick: int) -> int:
    """The file offset of one SHT_REL entry, counting across every relocation section."""
    entries = [s.offset + 16 * i for s in sections if s.type == 9 for i in range(s.size // 16)]
    return entries[pick % len(entries)]


def _reloc_symbol(data: bytearray, _: Sections, sections: list[_Section], pick: int, symbol: int) -> None:
    at = _relocation(sections, pick)
    (r_info,) = struct.unpack_from("<Q", data, at + 8)
    struct.pack_into("<Q", data, at + 8, symbol << 32 | (r_info & 0xFFFFFFFF))


def _reloc_offset(data: bytearray, _: Sections, sections: list[_Section], pick: int, choice: int) -> None:
    struct.pack_into("<Q", data, _relocation(sections, pick), _value(choice, 8, 0, len(data)))


def _map_size(data: bytearray, by_name: Sections, _: list[_Section], pick: int, size: int) -> None:
    """A map definition shorter than Aya's minimum, or running past the `maps` section."""
    maps, symtab = by_name["maps"], by_name[".symtab"]
    entries = [symtab.offset + 24 * i for i in range(symtab.size // 24)]
    in_maps = [at for at in entries if _SYM.unpack_from(data, at)[3] == maps.index]
    struct.pack_into("<Q", data, in_maps[pick % len(in_maps)] + 16, size)


def _btf_ext(data: bytearray, by_name: Sections, _: list[_Section], field: str, choice: int) -> None:
    ext = by_name[".BTF.ext"]
    value = _value(choice, 4, 0, ext.size)
    struct.pack_into("<I", data, ext.offset + 4 + 4 * _BTF_EXT_FIELDS.index(field), value)


def _btf_ext_rec_size(data: bytearray, by_name: Sections, _: list[_Section], which: int, size: int) -> None:
    """The rec_size word that starts func_info (0), line_info (1) or core_relo (2)."""
    ext = by_name[".BTF.ext"]
    (hdr_len,) = struct.unpack_from("<I", data, ext.offset + 4)
    (offset,) = struct.unpack_from("<I", data, ext.offset + 8 + 8 * which)
    at = ext.offset + hdr_len + offset
    if at + 4 <= ext.offset + ext.size:
        struct.pack_into("<I", data, at, size)


def _btf_header(data: bytearray, by_name: Sections, _: list[_Section], slot: int, choice: int) -> None:
    """hdr_len, type_off, type_len, str_off, str_len (slots 0-4), or the magic (5)."""
    btf = by_name[".BTF"]
    if slot == 5:
        struct.pack_into("<H", data, btf.offset, _value(choice, 2, 0, btf.size))
    else:
        struct.pack_into("<I", data, btf.offset + 4 + 4 * slot, _value(choice, 4, 0, btf.size))


_MUTATORS: dict[str, Callable[..., None]] = {
    "flip": _flip, "truncate": _truncate, "header": _header, "section": _section_field, "link": _link,
    "symbol": _symbol, "reloc_symbol": _reloc_symbol, "reloc_offset": _reloc_offset, "map_size": _map_size,
    "btf_ext": _btf_ext, "btf_ext_rec_size": _btf_ext_rec_size, "btf_header": _btf_header,
}  # fmt: skip
