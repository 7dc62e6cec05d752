"""A small reader of the `.BTF` section: header checks and the lint of names the kernel refuses.

Follows the kernel's `include/uapi/linux/btf.h`. A corrupted section gives a verdict
(`BtfProblem`), never an exception.
"""

from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field

BTF_MAGIC = 0xEB9F
HEADER = struct.Struct("HBBIIIII")  # magic, version, flags, hdr_len, type_off, type_len, str_off, str_len

KINDS = {
    1: "INT", 2: "PTR", 3: "ARRAY", 4: "STRUCT", 5: "UNION", 6: "ENUM", 7: "FWD", 8: "TYPEDEF",
    9: "VOLATILE", 10: "CONST", 11: "RESTRICT", 12: "FUNC", 13: "FUNC_PROTO", 14: "VAR",
    15: "DATASEC", 16: "FLOAT", 17: "DECL_TAG", 18: "TYPE_TAG", 19: "ENUM64",
}  # fmt: skip
# bytes of kind-specific data after the 12-byte btf_type: (fixed, per vlen entry)
_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12),
          17: (4, 0), 19: (0, 12)}  # fmt: skip
_C_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.]*$")
_NAMED_KINDS = {"STRUCT", "UNION", "ENUM", "ENUM64", "FUNC", "VAR"}
_ANONYMOUS_KINDS = {"PTR", "CONST", "VOLATILE", "RESTRICT"}


@dataclass(frozen=True)
class BtfType:
    """One type record."""

    id: int
    kind: str
    name: str


@dataclass
class BtfReport:
    """What the BTF section holds and what the kernel would refuse."""

    ok_header: bool = False
    version: int | None = None
    types: list[BtfType] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # the section is unreadable
    refused: list[str] = field(default_factory=list)  # types BPF_BTF_LOAD refuses


def _read_name(strings: bytes, offset: int) -> str | None:
    if offset >= len(strings):
        return None
    end = strings.find(b"\0", offset)
    if end < 0:
        return None
    return strings[offset:end].decode("utf-8", "replace")


def parse(data: bytes, little_endian: bool = True) -> BtfReport:
    """Check the header, walk every type, and lint names; never raises."""
    report = BtfReport()
    order = "<" if little_endian else ">"
    header = struct.Struct(order + HEADER.format)
    if len(data) < header.size:
        report.problems.append(f".BTF is {len(data)} bytes, shorter than its {header.size}-byte header")
        return report
    magic, version, _flags, hdr_len, type_off, type_len, str_off, str_len = header.unpack_from(data)
    if magic != BTF_MAGIC:
        report.problems.append(
            f".BTF magic is {magic:#06x}, not {BTF_MAGIC:#06x} (corrupt, or wrong byte order)"
        )
        return report
    report.version = version
    if version != 1:
        report.problems.append(f".BTF version {version}, the kernel knows version 1")
    body = data[hdr_len:] if hdr_len <= len(data) else b""
    if hdr_len < header.size or type_off + type_len > len(body) or str_off + str_len > len(body):
        report.problems.append(
            f".BTF header offsets point outside the section (hdr_len {hdr_len}, types {type_off}+{type_len}, "
            f"strings {str_off}+{str_len}, body {len(body)} bytes)"
        )
        return report
    report.ok_header = True
    types = body[type_off : type_off + type_len]
    strings = body[str_off : str_off + str_len]
    record = struct.Struct(order + "III")
    position, type_id = 0, 1
    while position < len(types):
        if position + record.size > len(types):
            report.problems.append(f"type [{type_id}] is cut off at byte {position} of the type section")
            break
        name_off, info, _size = record.unpack_from(types, position)
        kind_code = (info >> 24) & 0x1F
        vlen = info & 0xFFFF
        kind = KINDS.get(kind_code)
        if kind is None:
            report.problems.append(f"type [{type_id}] has unknown kind {kind_code}")
            break
        name = _read_name(strings, name_off)
        if name is None:
            report.problems.append(
                f"type [{type_id}] {kind}: name offset {name_off} is outside the string section"
            )
            name = ""
        report.types.append(BtfType(type_id, kind, name))
        _lint(report, type_id, kind, name)
        fixed, per = _EXTRA.get(kind_code, (0, 0))
        position += record.size + fixed + per * vlen
        type_id += 1
    return report


def _lint(report: BtfReport, type_id: int, kind: str, name: str) -> None:
    if kind in _NAMED_KINDS and name and not _C_NAME.match(name):
        report.refused.append(
            f"type [{type_id}] {kind} '{name}': the kernel refuses non-C names (Invalid name)"
        )
    elif kind in _ANONYMOUS_KINDS and name:
        report.refused.append(f"type [{type_id}] {kind} '{name}': the kernel refuses named {kind} types")
    elif kind in ("ENUM", "ENUM64") and name == "c_void":
        report.refused.append(f"type [{type_id}] ENUM c_void: the kernel refuses it (use a C void pointer)")
