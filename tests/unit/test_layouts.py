"""Kernel struct layouts: the object's fixed offsets against a kernel's BTF, on small BTF blobs
made here the way the kernel lays them out (include/uapi/linux/btf.h)."""

from __future__ import annotations

import struct

import pytest

from buildbpf.objects import layouts
from buildbpf.objects.layouts import Layout, Member


class Btf:
    """A tiny BTF writer: types get ids 1, 2, ... in the order they are added."""

    def __init__(self) -> None:
        self.strings = bytearray(b"\0")
        self.types = bytearray()
        self.count = 0

    def _name(self, name: str) -> int:
        if not name:
            return 0
        offset = len(self.strings)
        self.strings += name.encode() + b"\0"
        return offset

    def _add(self, name: str, kind: int, vlen: int, size_or_type: int, extra: bytes = b"",
             kind_flag: bool = False) -> int:  # fmt: skip
        info = (kind << 24) | vlen | (1 << 31 if kind_flag else 0)
        self.types += struct.pack("<III", self._name(name), info, size_or_type) + extra
        self.count += 1
        return self.count

    def int(self, name: str, size: int) -> int:
        return self._add(name, 1, 0, size, struct.pack("<I", size * 8))

    def ptr(self, to: int) -> int:
        return self._add("", 2, 0, to)

    def typedef(self, name: str, to: int) -> int:
        return self._add(name, 8, 0, to)

    def array(self, element: int, index: int, count: int) -> int:
        return self._add("", 3, 0, 0, struct.pack("<III", element, index, count))

    def struct(self, name: str, size: int, members: list[tuple[str, int, int]], *, union: bool = False,
               bitfields: dict[str, int] | None = None) -> int:  # fmt: skip
        """members: (name, type id, bit offset); `bitfields`: name -> bit size (kind_flag set)."""
        bitfields = bitfields or {}
        extra = b"".join(
            struct.pack("<III", self._name(n), t, (bitfields[n] << 24 | o) if bitfields else o)
            for n, t, o in members
        )
        return self._add(name, 5 if union else 4, len(members), size, extra, kind_flag=bool(bitfields))

    def bytes(self) -> bytes:
        types, strings = len(self.types), len(self.strings)
        header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, types, types, strings)
        return header + bytes(self.types) + bytes(self.strings)


@pytest.fixture
def kernel() -> layouts.KernelBtf:
    """task_struct with pid/tgid behind an anonymous union, a bitfield, a keyword-named field."""
    btf = Btf()
    int_ = btf.int("int", 4)
    pid_t = btf.typedef("pid_t", int_)
    long_ = btf.int("long", 8)
    comm = btf.array(btf.int("char", 1), int_, 16)
    anon = btf.struct("", 8, [("pid", pid_t, 0), ("tgid", pid_t, 32)])
    wrapper = btf.struct("", 8, [("", anon, 0), ("both", long_, 0)], union=True)
    btf.struct("task_struct", 64, [("state", int_, 0), ("", wrapper, 64), ("comm", comm, 128),
                                   ("next", btf.ptr(0), 256)])  # fmt: skip
    btf.struct("flags_holder", 4, [("a", int_, 0), ("b", int_, 3)], bitfields={"a": 3, "b": 5})
    btf.struct("sock_common", 8, [("type", int_, 0), ("family", int_, 32)])
    return layouts.read_kernel_btf(btf.bytes())


def test_the_kernel_side_follows_anonymous_members_typedefs_arrays_and_pointers(
    kernel: layouts.KernelBtf,
) -> None:
    task = kernel.layout("task_struct")
    assert task is not None and task.size == 64
    assert task.members == (
        Member("state", 0, 32), Member("pid", 64, 32), Member("tgid", 96, 32), Member("both", 64, 64),
        Member("comm", 128, 128), Member("next", 256, 64),
    )  # fmt: skip
    flags = kernel.layout("flags_holder")
    assert flags is not None and flags.members == (Member("a", 0, 3), Member("b", 3, 5))
    assert kernel.layout("inode") is None


def test_same_layout_is_same(kernel: layouts.KernelBtf) -> None:
    ours = Layout("task_struct", 64, (Member("pid", 64, 32), Member("tgid", 96, 32),
                                      Member("comm", 128, 128)))  # fmt: skip
    [verdict] = layouts.verdicts([ours], kernel)
    assert verdict.same and verdict.fields == 3


def test_a_moved_field_a_resized_field_and_a_missing_field_differ(kernel: layouts.KernelBtf) -> None:
    ours = Layout("task_struct", 40, (Member("pid", 32, 32), Member("tgid", 96, 32), Member("comm", 128, 64),
                                      Member("state", 0, 32), Member("usage", 160, 32)))  # fmt: skip
    [verdict] = layouts.verdicts([ours], kernel)
    described = [d.describe("task_struct", "5.10") for d in verdict.differences]
    assert described == [
        "task_struct.pid: byte 4 here, 8 on 5.10",
        "task_struct.comm: 8 bytes here, 16 bytes on 5.10",
        "task_struct.usage: byte 20 here, no such field on 5.10",
    ]
    assert layouts.summary({"5.10": [verdict]}) == {"5.10": "differs (3 fields)"}
    assert "bpf_get_current_pid_tgid" in layouts.advice("task_struct", verdict.differences[0])
    assert "bpf_get_current_comm" in layouts.advice("task_struct", verdict.differences[1])
    assert "min_kernel" in layouts.advice("task_struct", verdict.differences[2])


def test_bitfields_are_compared_by_bit(kernel: layouts.KernelBtf) -> None:
    ours = Layout("flags_holder", 4, (Member("a", 0, 3), Member("b", 4, 4)))
    [verdict] = layouts.verdicts([ours], kernel)
    assert [d.describe("flags_holder", "6.1") for d in verdict.differences] == [
        "flags_holder.b: byte 0.5 (bit 4) here, 0.375 (bit 3) on 6.1"]


def test_types_the_kernel_lacks_or_the_program_owns_are_not_compared(kernel: layouts.KernelBtf) -> None:
    own = Layout("task_struct", 8, (Member("counter", 0, 32), Member("slot", 32, 32)))  # a namesake
    missing = Layout("inode", 8, (Member("i_mode", 0, 16),))
    assert layouts.verdicts([own, missing], kernel) == []


def test_bindgen_names_are_the_kernels() -> None:
    assert layouts.kernel_name("type_") == "type" and layouts.kernel_name("pid_") == "pid_"
    assert layouts.kernel_name("fn_") == "fn" and layouts.kernel_name("next") == "next"


def test_bad_btf_is_an_error_not_a_crash() -> None:
    with pytest.raises(ValueError, match="magic"):
        layouts.read_kernel_btf(b"\x00" * 40)
    with pytest.raises(ValueError, match="shorter"):
        layouts.read_kernel_btf(b"\x9f\xeb")
