"""The BTF reader: header verdicts and the names the kernel refuses, on crafted sections."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildbpf.objects import btf
from buildbpf.objects.report import GPL_COMPATIBLE


def section(
    types: list[tuple[int, int, int, bytes]], names: list[str], *, magic: int = 0xEB9F, version: int = 1
) -> bytes:
    """A little-endian .BTF: types are (name index, kind, vlen, extra bytes)."""
    strings = b"\0"
    offsets = []
    for name in names:
        offsets.append(len(strings))
        strings += name.encode() + b"\0"
    body = b""
    for name_index, kind, vlen, extra in types:
        name_off = offsets[name_index] if name_index >= 0 else 0
        body += struct.pack("<III", name_off, (kind << 24) | vlen, 4) + extra
    header = struct.pack("<HBBIIIII", magic, version, 0, 24, 0, len(body), len(body), len(strings))
    return header + body + strings


INT = (0, 1, 0, struct.pack("<I", 32))  # an INT named names[0]


def test_clean_section() -> None:
    data = section(
        [(0, *INT[1:]), (1, 4, 0, b""), (-1, 2, 0, b""), (2, 12, 0, b"")], ["u32", "xdp_md", "prog"]
    )
    report = btf.parse(data)
    assert report.ok_header
    assert report.problems == report.refused == []
    assert [(t.id, t.kind, t.name) for t in report.types] == [
        (1, "INT", "u32"), (2, "STRUCT", "xdp_md"), (3, "PTR", ""), (4, "FUNC", "prog"),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("types", "names", "expected"),
    [
        ([(0, 4, 0, b"")], ["MaybeUninit<u8>"], "type [1] STRUCT 'MaybeUninit<u8>'"),
        ([(0, 12, 0, b"")], ["core::fmt"], "type [1] FUNC 'core::fmt'"),
        ([(0, 2, 0, b"")], ["*const u8"], "type [1] PTR '*const u8': the kernel refuses named PTR"),
        ([(0, 10, 0, b"")], ["c"], "named CONST"),
        ([(0, 6, 0, b"")], ["c_void"], "type [1] ENUM c_void"),
        ([(0, 14, 0, b"\0\0\0\0")], ["a-b"], "type [1] VAR 'a-b'"),
    ],
)
def test_names_the_kernel_refuses(
    types: list[tuple[int, int, int, bytes]], names: list[str], expected: str
) -> None:
    report = btf.parse(section(types, names))
    assert any(expected in p for p in report.refused), report.refused
    assert report.problems == []


def test_bad_headers() -> None:
    good = section([INT], ["u32"])
    assert "magic" in btf.parse(section([INT], ["u32"], magic=0x1234)).problems[0]
    assert "version 2" in btf.parse(section([INT], ["u32"], version=2)).problems[0]
    assert "shorter than" in btf.parse(good[:10]).problems[0]
    assert "outside the section" in btf.parse(good[:30]).problems[0]
    big_endian = btf.parse(good, little_endian=False)
    assert "magic" in big_endian.problems[0]


def test_name_offset_and_unknown_kind() -> None:
    data = bytearray(section([INT], ["u32"]))
    struct.pack_into("<I", data, 24, 999)  # name_off of type 1
    assert "outside the string section" in btf.parse(bytes(data)).problems[0]
    assert "unknown kind 31" in btf.parse(section([(0, 31, 0, b"")], ["x"])).problems[0]


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=400))
def test_random_bodies_never_raise(tail: bytes) -> None:
    header = struct.pack(
        "<HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(tail) // 2, len(tail) // 2, len(tail) - len(tail) // 2
    )
    report = btf.parse(header + tail)
    assert isinstance(report.problems, list)


def test_gpl_compatible_licenses() -> None:
    assert "Dual MIT/GPL" in GPL_COMPATIBLE
    assert "MIT" not in GPL_COMPATIBLE
