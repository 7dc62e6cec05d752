"""The BTF checks of Aya's loader: aya-obj's `Btf::parse` and `BtfExt::parse`.

Only what makes Aya refuse an object (`Refused`); the lint of names the kernel refuses is
`objects/btf.py`.
"""

from __future__ import annotations

import struct

from buildbpf.objects.elf import Refused


class Btf:
    """aya-obj's Btf::parse: it checks offsets and type records, not the magic or names."""

    def __init__(
        self, hdr_len: int, str_off: int, str_len: int, strings: bytes, names: list[tuple[int, int]]
    ):
        self.hdr_len, self.str_off, self.str_len = hdr_len, str_off, str_len
        self.strings = strings
        self.names = names  # (kind, name offset) per type

    @classmethod
    def parse(cls, data: bytes, order: str) -> Btf:
        """The header's offsets, then every type record's size; Refused where Aya errs."""
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


def check_btf_ext(data: bytes, order: str, btf: Btf) -> None:
    """aya-obj's BtfExt::parse: the header, and every record of func_info, line_info and core_relo."""
    if len(data) < 8:
        raise Refused("BTF error: invalid .BTF.ext header")
    (hdr_len,) = struct.unpack_from(order + "I", data, 4)
    if len(data) < hdr_len:
        raise Refused("BTF error: invalid .BTF.ext header")
    header = (data[: min(hdr_len, 32)] + bytes(32))[:32]
    _, _, _, hdr_len, *fields = struct.unpack(order + "HBBIIIIIII", header)
    records = []
    for off, length in zip(fields[0::2], fields[1::2], strict=True):
        start = hdr_len + off
        if 0 < length < 4 or start + length > len(data):
            raise Refused(
                f"BTF error: invalid BTF info, offset: {start} len: {length} section_len: {len(data)}"
            )
        rec_size = struct.unpack_from(order + "I", data, start)[0] if length else 0
        body = data[start + 4 : start + length] if length else b""
        records.append((rec_size, body))
    for kind, (rec_size, body) in zip(("func_info", "line_info", "core_relo"), records, strict=True):
        minimum = {"func_info": 8, "line_info": 16, "core_relo": 16}[kind]
        for name_offset, chunk in _sec_infos(body, rec_size, order):
            if kind != "core_relo" and not btf.has_string(name_offset):
                raise Refused(f"BTF error: .BTF.ext {kind} names a section at a bad string offset")
            if rec_size == 0:
                raise Refused(f".BTF.ext {kind} records have size 0")
            for at in range(0, len(chunk), rec_size):
                record = chunk[at : at + rec_size]
                if len(record) < minimum:
                    raise Refused(f"BTF error: a .BTF.ext {kind} record is {len(record)} bytes")
                if kind == "core_relo" and struct.unpack_from(order + "I", record, 12)[0] > 11:
                    raise Refused("BTF error: invalid CO-RE relocation kind")


def _sec_infos(body: bytes, rec_size: int, order: str) -> list[tuple[int, bytes]]:
    """aya-obj's SecInfoIter: (section name offset, records) until fewer than 9 bytes remain."""
    found, offset = [], 0
    while offset + 8 < len(body):
        name_offset, count = struct.unpack_from(order + "II", body, offset)
        offset += 8
        end = offset + rec_size * count
        if end > len(body):  # Aya slices: a panic
            raise Refused(".BTF.ext: a section's records run past the end of the section")
        found.append((name_offset, body[offset:end]))
        offset = end
    return found

