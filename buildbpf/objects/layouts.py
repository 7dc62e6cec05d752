"""Kernel struct layouts an object was compiled against, and whether a kernel agrees.

Rust eBPF has no CO-RE: a program that reads kernel memory through bindings generated from one
kernel's BTF (`aya-tool generate task_struct`, bindgen over `bpftool btf dump`) has every field
offset fixed in its code. The verifier accepts it on any kernel; on one whose layout differs it
reads the wrong bytes. The object's `.BTF` holds only the types its functions and globals
name, but its DWARF (eBPF crates are built with debuginfo) holds every struct with its
members: those whose name is also a struct or union in a kernel's BTF are compared, by name and
member name (bindgen keeps the kernel's names), never by type id.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# bindgen appends `_` to member names that are Rust keywords (`type` -> `type_`)
_RUST_KEYWORDS = frozenset({
    "as", "break", "const", "continue", "crate", "else", "enum", "extern", "false", "fn", "for", "if",
    "impl", "in", "let", "loop", "match", "mod", "move", "mut", "pub", "ref", "return", "self", "static",
    "struct", "super", "trait", "true", "type", "unsafe", "use", "where", "while", "async", "await", "dyn",
    "abstract", "become", "box", "do", "final", "macro", "override", "priv", "typeof", "unsized", "virtual",
    "yield", "try",
})  # fmt: skip
# members bindgen makes up: padding, bitfield units, anonymous struct/union members
_PADDING_PREFIXES = ("__bindgen_padding", "_bitfield_align", "_bitfield_", "__pad", "_pad")
_ANONYMOUS_PREFIX = "__bindgen_anon_"
# crates whose structs are not bindings the program's author generated: aya-ebpf's own bindings
# are of UAPI and arch ABI structs (`xdp_md`, `__sk_buff`, `pt_regs`), stable across kernels
_NOT_BINDINGS = frozenset({"aya_ebpf_bindings", "aya_bpf_bindings", "aya_ebpf", "aya_bpf", "aya_log_ebpf",
                           "aya_log_common", "core", "alloc", "compiler_builtins"})  # fmt: skip


@dataclass(frozen=True)
class Member:
    """One field: its name as the kernel spells it, bit offset in the struct, size in bits."""

    name: str
    bit_offset: int
    bits: int | None = None  # None: unknown (a type the reader does not size)


@dataclass(frozen=True)
class Layout:
    """A struct or union and its fields, anonymous members flattened into it."""

    name: str
    size: int | None
    members: tuple[Member, ...]

    def member(self, name: str) -> Member | None:
        """The field of that name, if any."""
        return next((m for m in self.members if m.name == name), None)


@dataclass(frozen=True)
class FieldDifference:
    """One field whose offset or size differs on a kernel, or that the kernel lacks."""

    name: str
    ours: Member
    theirs: Member | None

    def describe(self, type_name: str, kernel: str) -> str:
        """`task_struct.tgid: byte 2392 here, 2264 on 5.10`."""
        here = f"byte {_bytes(self.ours.bit_offset)}"
        if self.theirs is None:
            return f"{type_name}.{self.name}: {here} here, no such field on {kernel}"
        if self.theirs.bit_offset != self.ours.bit_offset:
            return f"{type_name}.{self.name}: {here} here, {_bytes(self.theirs.bit_offset)} on {kernel}"
        return (f"{type_name}.{self.name}: {_size(self.ours.bits)} here, {_size(self.theirs.bits)} "
                f"on {kernel}")  # fmt: skip


@dataclass(frozen=True)
class TypeVerdict:
    """One kernel type of an object against one kernel: `same`, or the fields that differ."""

    name: str
    fields: int  # fields compared
    differences: tuple[FieldDifference, ...] = ()

    @property
    def same(self) -> bool:
        """Every compared field has the kernel's offset and size."""
        return not self.differences


def _bytes(bit_offset: int) -> str:
    return str(bit_offset // 8) if bit_offset % 8 == 0 else f"{bit_offset / 8:g} (bit {bit_offset})"


def _size(bits: int | None) -> str:
    if bits is None:
        return "unknown size"
    return f"{bits // 8} bytes" if bits % 8 == 0 else f"{bits} bits"


def kernel_name(member: str) -> str:
    """A member name as the kernel spells it: bindgen's `type_` is the kernel's `type`."""
    if member.endswith("_") and member[:-1] in _RUST_KEYWORDS:
        return member[:-1]
    return member


def _made_up(member: str) -> bool:
    return member.startswith(_PADDING_PREFIXES) and not member.startswith(_ANONYMOUS_PREFIX)


# --- the object's side: DWARF -------------------------------------------------------------------


def _attr(die: Any, name: str) -> Any:
    found = die.attributes.get(name)
    return None if found is None else found.value


def _die_name(die: Any) -> str | None:
    value = _attr(die, "DW_AT_name")
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else None


def _type_die(die: Any) -> Any:
    try:
        return die.get_DIE_from_attribute("DW_AT_type") if "DW_AT_type" in die.attributes else None
    except Exception:  # a broken reference: the size stays unknown
        return None


def _die_bits(die: Any, depth: int = 0) -> int | None:
    """Size in bits of a member's type, through typedefs and qualifiers."""
    while die is not None and depth < 16:
        size = _attr(die, "DW_AT_byte_size")
        if isinstance(size, int):
            return size * 8
        if die.tag in ("DW_TAG_pointer_type", "DW_TAG_reference_type"):
            return 64  # BPF is a 64-bit machine; never the size of what it points to
        if die.tag == "DW_TAG_array_type":
            element = _die_bits(_type_die(die), depth + 1)
            counts = [_attr(c, "DW_AT_count") for c in die.iter_children() if c.tag == "DW_TAG_subrange_type"]
            if element is None or not counts or not all(isinstance(c, int) for c in counts):
                return None
            total = element
            for count in counts:
                total *= count
            return total
        die, depth = _type_die(die), depth + 1
    return None


def _dwarf_members(die: Any, base_bits: int, depth: int = 0) -> list[Member]:
    members: list[Member] = []
    for child in die.iter_children():
        if child.tag != "DW_TAG_member":
            continue
        name = _die_name(child) or ""
        location = _attr(child, "DW_AT_data_member_location")
        bit_offset = base_bits + (location * 8 if isinstance(location, int) else 0)
        if isinstance(_attr(child, "DW_AT_data_bit_offset"), int):
            bit_offset = base_bits + _attr(child, "DW_AT_data_bit_offset")
        bits = _attr(child, "DW_AT_bit_size")
        if name.startswith(_ANONYMOUS_PREFIX) or not name:
            inner = _type_die(child)
            if inner is not None and depth < 8:
                members += _dwarf_members(inner, bit_offset, depth + 1)
            continue
        if _made_up(name):
            continue
        size = bits if isinstance(bits, int) else _die_bits(_type_die(child))
        members.append(Member(kernel_name(name), bit_offset, size))
    return members


def _library_type(die: Any) -> bool:
    """A type of aya's or the standard library's (its outermost namespace names the crate)."""
    outermost = None
    parent = die.get_parent()
    while parent is not None and parent.tag == "DW_TAG_namespace":
        outermost = _die_name(parent)
        parent = parent.get_parent()
    return outermost in _NOT_BINDINGS


def object_layouts(path: Path) -> list[Layout] | None:
    """The named structs and unions in the object's DWARF (a Rust path's last segment as the
    name); None when it has no DWARF (stripped, or built without debuginfo)."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            if not elf.has_dwarf_info() or elf.get_section_by_name(".debug_info") is None:
                return None
            dwarf = elf.get_dwarf_info(relocate_dwarf_sections=False)
            found: dict[str, Layout] = {}
            for unit in dwarf.iter_CUs():
                for die in unit.iter_DIEs():
                    if die.tag not in ("DW_TAG_structure_type", "DW_TAG_union_type"):
                        continue
                    name = _die_name(die)
                    if not name or name in found or _attr(die, "DW_AT_declaration") or _library_type(die):
                        continue
                    size = _attr(die, "DW_AT_byte_size")
                    found[name] = Layout(name, size if isinstance(size, int) else None,
                                         tuple(_dwarf_members(die, 0)))  # fmt: skip
            return list(found.values())
    except (OSError, ELFError, ValueError, KeyError, struct.error) as exc:
        raise ValueError(f"cannot read the object's DWARF: {exc}") from None


# --- the kernel's side: BTF ---------------------------------------------------------------------

_BTF_HEADER = struct.Struct("<HBBIIIII")
_RECORD = struct.Struct("<III")
# bytes of kind-specific data after a btf_type: (fixed, per vlen entry) - include/uapi/linux/btf.h
_EXTRA = {1: (4, 0), 3: (12, 0), 4: (0, 12), 5: (0, 12), 6: (0, 8), 13: (0, 8), 14: (4, 0), 15: (0, 12),
          17: (4, 0), 19: (0, 12)}  # fmt: skip
_INT, _PTR, _ARRAY, _STRUCT, _UNION, _ENUM, _FWD, _TYPEDEF = 1, 2, 3, 4, 5, 6, 7, 8
_QUALIFIERS = {9, 10, 11, 18}  # volatile, const, restrict, type_tag
_ENUM64 = 19


@dataclass
class KernelBtf:
    """A kernel's BTF, indexed by type id; structs and unions decoded on demand, by name."""

    data: bytes
    types: bytes
    strings: bytes
    offsets: list[int] = field(default_factory=list)  # offsets[id] in `types`; id 0 is void
    by_name: dict[str, int] = field(default_factory=dict)  # struct/union name -> first type id

    def _record(self, type_id: int) -> tuple[str, int, int, int, int]:
        position = self.offsets[type_id]
        name_off, info, size_or_type = _RECORD.unpack_from(self.types, position)
        end = self.strings.find(b"\0", name_off)
        name = self.strings[name_off:end].decode("utf-8", "replace") if end >= 0 else ""
        return name, (info >> 24) & 0x1F, info & 0xFFFF, size_or_type, position + _RECORD.size

    def _bits(self, type_id: int, depth: int = 0) -> int | None:
        while 0 < type_id < len(self.offsets) and depth < 32:
            _, kind, _, size_or_type, extra = self._record(type_id)
            if kind in (_INT, _STRUCT, _UNION, _ENUM, _ENUM64, 16):  # 16: float
                return size_or_type * 8
            if kind == _PTR:
                return 64
            if kind == _ARRAY:
                element, _index, count = struct.unpack_from("<III", self.types, extra)
                inner = self._bits(element, depth + 1)
                return None if inner is None else inner * count
            if kind in _QUALIFIERS or kind == _TYPEDEF:
                type_id, depth = size_or_type, depth + 1
                continue
            return None
        return None

    def _members(self, type_id: int, base_bits: int, depth: int = 0) -> list[Member]:
        _, _, vlen, _, extra = self._record(type_id)
        kind_flag = bool(struct.unpack_from("<I", self.types, self.offsets[type_id] + 4)[0] >> 31)
        members: list[Member] = []
        for index in range(vlen):
            name_off, member_type, offset = struct.unpack_from("<III", self.types, extra + 12 * index)
            end = self.strings.find(b"\0", name_off)
            name = self.strings[name_off:end].decode("utf-8", "replace") if end >= 0 else ""
            bit_offset, bitfield = (offset & 0xFFFFFF, offset >> 24) if kind_flag else (offset, 0)
            if not name:  # an anonymous struct or union member: its fields belong to this type
                inner = member_type
                while 0 < inner < len(self.offsets) and self._record(inner)[1] in _QUALIFIERS | {_TYPEDEF}:
                    inner = self._record(inner)[3]
                nested = 0 < inner < len(self.offsets) and self._record(inner)[1] in (_STRUCT, _UNION)
                if nested and depth < 8:
                    members += self._members(inner, base_bits + bit_offset, depth + 1)
                continue
            bits = bitfield or self._bits(member_type)
            members.append(Member(name, base_bits + bit_offset, bits))
        return members

    def layout(self, name: str) -> Layout | None:
        """The struct or union of that name, as this kernel lays it out; None if it has none."""
        type_id = self.by_name.get(name)
        if type_id is None:
            return None
        _, _, _, size, _ = self._record(type_id)
        return Layout(name, size, tuple(self._members(type_id, 0)))


def read_kernel_btf(data: bytes) -> KernelBtf:
    """Index a kernel's raw BTF (`/sys/kernel/btf/vmlinux`, a vmlinux's `.BTF` section)."""
    if len(data) < _BTF_HEADER.size:
        raise ValueError("BTF data shorter than its header")
    magic, _version, _flags, hdr_len, type_off, type_len, str_off, str_len = _BTF_HEADER.unpack_from(data)
    if magic != 0xEB9F:
        raise ValueError(f"not little-endian BTF (magic {magic:#06x})")
    body = data[hdr_len:]
    if type_off + type_len > len(body) or str_off + str_len > len(body):
        raise ValueError("BTF header offsets point outside the data")
    btf = KernelBtf(data, body[type_off : type_off + type_len], body[str_off : str_off + str_len], [0])
    position, types, strings = 0, btf.types, btf.strings
    while position + _RECORD.size <= len(types):
        name_off, info, _ = _RECORD.unpack_from(types, position)
        kind, vlen = (info >> 24) & 0x1F, info & 0xFFFF
        btf.offsets.append(position)
        if kind in (_STRUCT, _UNION) and name_off:
            end = strings.find(b"\0", name_off)
            name = strings[name_off:end].decode("utf-8", "replace")
            btf.by_name.setdefault(name, len(btf.offsets) - 1)
        fixed, per = _EXTRA.get(kind, (0, 0))
        position += _RECORD.size + fixed + per * vlen
    return btf


# --- the comparison -----------------------------------------------------------------------------


def compare(ours: Layout, theirs: Layout) -> TypeVerdict:
    """Each of our fields against the kernel's field of the same name: offset and size."""
    differences = []
    for member in ours.members:
        kernel = theirs.member(member.name)
        moved = kernel is None or kernel.bit_offset != member.bit_offset
        resized = kernel is not None and None not in (kernel.bits, member.bits) and kernel.bits != member.bits
        if moved or resized:
            differences.append(FieldDifference(member.name, member, kernel))
    return TypeVerdict(ours.name, len(ours.members), tuple(differences))


def kernel_types(layouts: Iterable[Layout], kernel: KernelBtf) -> list[tuple[Layout, Layout]]:
    """Our structs that are bindings of this kernel's types: same name, and most of our field
    names are the kernel's (a type of the program's own that shares a kernel name is not)."""
    pairs = []
    for ours in layouts:
        if not ours.members or (theirs := kernel.layout(ours.name)) is None:
            continue
        known = sum(1 for m in ours.members if theirs.member(m.name) is not None)
        if known * 2 >= len(ours.members):
            pairs.append((ours, theirs))
    return pairs


def verdicts(layouts: Iterable[Layout], kernel: KernelBtf) -> list[TypeVerdict]:
    """One verdict per kernel type the object was compiled against, by name."""
    return sorted((compare(ours, theirs) for ours, theirs in kernel_types(layouts, kernel)),
                  key=lambda v: v.name)  # fmt: skip


def summary(found: Mapping[str, Iterable[TypeVerdict]]) -> dict[str, str]:
    """kernel -> `same` or `differs (N fields)`: the matrix row."""
    rows = {}
    for kernel, items in found.items():
        count = sum(len(v.differences) for v in items)
        rows[kernel] = "same" if count == 0 else f"differs ({count} field{'s' if count > 1 else ''})"
    return rows


# fields whose value a helper gives on every kernel: no layout needed
_STABLE_SOURCES = {
    "pid": "bpf_get_current_pid_tgid() (its lower 32 bits)",
    "tgid": "bpf_get_current_pid_tgid() (its upper 32 bits)",
    "comm": "bpf_get_current_comm()",
    "uid": "bpf_get_current_uid_gid()",
    "gid": "bpf_get_current_uid_gid()",
}


def advice(type_name: str, difference: FieldDifference) -> str:
    """What to do about one field that differs."""
    stable = _STABLE_SOURCES.get(difference.name) if type_name == "task_struct" else None
    if stable is not None:
        return f"read it with {stable} instead"
    return (f"regenerate the bindings of {type_name} for the oldest kernel you deploy to (`min_kernel`), or "
            "read the value from a tracepoint's fields or an fentry program's typed arguments")  # fmt: skip


def running_kernel_btf(path: Path = Path("/sys/kernel/btf/vmlinux")) -> KernelBtf | None:
    """This kernel's BTF, or None when it has none (or it cannot be read)."""
    try:
        return read_kernel_btf(path.read_bytes())
    except (OSError, ValueError):
        return None
