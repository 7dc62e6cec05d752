"""The relocations Aya's loader makes before the kernel sees an object, and where it refuses.

`relocate_maps` and `relocate_calls` (aya-obj relocation.rs) and the map type check of
aya 0.14's `EbpfLoader::load`, including the places where Aya panics on a malformed object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from buildbpf.objects.elf import (
    _U32,
    _U64,
    MAP_TYPES_KNOWN,
    MAPS_OF_MAPS,
    STT_FUNC,
    STT_GNU_IFUNC,
    STT_SECTION,
    EbpfObject,
    Refused,
    Symbol,
)


@dataclass
class Function:
    """A function of the object's code, as Aya relocates and links it."""

    section: int
    address: int
    offset: int  # byte offset in its section
    name: str
    code: list[list[int]]  # [opcode, regs, off, imm] per instruction, changed by relocation


@dataclass
class Code:
    """What relocation reads: the functions, their relocations, and the sections maps come from."""

    functions: dict[tuple[int, int], Function] = field(default_factory=dict)
    # section -> offset -> (symbol, size in bits)
    relocations: dict[int, dict[int, tuple[int, int]]] = field(default_factory=dict)
    map_sections: dict[int, bytes] = field(default_factory=dict)  # section index -> data of its map
    legacy_symbols: dict[int, int] = field(default_factory=dict)  # symbol index -> section index
    programs: dict[str, tuple[int, int]] = field(default_factory=dict)  # program name -> function key


def loader_checks(obj: EbpfObject, code: Code) -> None:
    """Aya 0.14's EbpfLoader::load before the kernel: map types, then relocate_maps and _calls."""
    for m in obj.maps:
        if m.map_type not in MAP_TYPES_KNOWN:
            raise Refused(f"map `{m.name}`: invalid map type {m.map_type}")
        if m.map_type in MAPS_OF_MAPS:
            raise Refused(f"map `{m.name}`: a map of maps without an inner map definition")
    text_sections = {section for section, _ in code.functions}
    symbols = {s.index: s for s in obj.symbols}
    for function in code.functions.values():
        _relocate_maps(obj, code, function, symbols, text_sections)
    for key in code.programs.values():
        _link(obj, code, code.functions[key], symbols, text_sections)


def _relocate_maps(
    obj: EbpfObject,
    code: Code,
    function: Function,
    symbols: dict[int, Symbol],
    text_sections: set[int],
) -> None:
    """relocate_maps: each map load names a map Aya made (its fd stands in the instruction)."""
    relocations = code.relocations.get(function.section)
    if not relocations:
        return
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
        if _is_call(function.code[index], obj.little_endian) or symbol.section in text_sections:
            continue
        if sym_index in code.legacy_symbols:
            data = b""
        elif symbol.section in code.map_sections:
            data = code.map_sections[symbol.section]
        else:
            raise Refused(
                f"error relocating `{function.name}`: section `{symbol.section}` not found, "
                f"referenced by symbol `{symbol.name}` #{sym_index}"
            )
        _load_map(function, index, data, symbol, obj.little_endian)


def _load_map(function: Function, index: int, data: bytes, symbol: Symbol, little_endian: bool) -> None:
    """Rewrite the instruction as Aya does: a map fd load, or a map value load when it holds data."""
    instruction = function.code[index]
    if not data:
        instruction[1] = (instruction[1] & 0x0F) | (1 << 4 if little_endian else 1)
    else:
        if index + 1 >= len(function.code):  # Aya writes the next instruction: a panic
            raise Refused(f"error relocating `{function.name}`: a map load is cut off")
        instruction[1] = (instruction[1] & 0x0F) | (2 << 4 if little_endian else 2)
        function.code[index + 1][3] = _i32(instruction[3] + symbol.value)
    instruction[3] = 1000  # a stand-in fd, as the helper's --parse-only uses


def _link(
    obj: EbpfObject, code: Code, program: Function, symbols: dict[int, Symbol], text_sections: set[int]
) -> None:
    """aya-obj's FunctionLinker: every call must reach a function it knows."""
    linked: set[int] = set()
    pending = [program]
    while pending:
        function = pending.pop()
        relocations = code.relocations.get(function.section, {})
        for number, instruction in enumerate(function.code):
            call = _is_call(instruction, obj.little_endian)
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
                landing = _call_target(function, instruction, symbol, found[1])
                if landing is None:
                    return  # another machine's relocation types: not judged here
                key = landing
            else:
                target = function.offset + 8 * number + 8 * (_i32(instruction[3] + 1))
                key = (function.section, target & _U64)
            callee = code.functions.get(key)
            if callee is None:
                raise Refused(
                    f"error relocating `{program.name}`: function {key[1]:#x} not found while "
                    f"relocating `{function.name}`"
                )
            if callee.address not in linked:
                linked.add(callee.address)
                pending.append(callee)


def _call_target(
    function: Function, instruction: list[int], symbol: Symbol, size: int
) -> tuple[int, int] | None:
    """(section, address) a relocated call lands on (None: another machine's relocation)."""
    if symbol.type in (STT_FUNC, STT_GNU_IFUNC):
        address = symbol.value
    elif symbol.type == STT_SECTION and size == 32:
        address = (symbol.value + ((_i32(instruction[3] + 1) * 8) & _U64)) & _U64
    elif symbol.type == STT_SECTION and size == 64:
        address = (symbol.value + (instruction[3] & _U64)) & _U64
    elif size == -1:
        return None
    else:  # Aya: todo!("FIXME: return an error here for kind=...")
        raise Refused(f"relocating {function.name}: a relocation Aya cannot handle (a panic)")
    if symbol.section is None:
        raise Refused(f"relocating {function.name}: a call to an undefined function (a panic)")
    return symbol.section, address


def _i32(value: int) -> int:
    value &= _U32
    return value - (1 << 32) if value & 0x80000000 else value


def _is_call(instruction: list[int], little_endian: bool = True) -> bool:
    """aya-obj's insn_is_call: `call` with src_reg BPF_PSEUDO_CALL, dst 0, off 0."""
    opcode, regs, off, _ = instruction
    src, dst = (regs >> 4, regs & 0xF) if little_endian else (regs & 0xF, regs >> 4)
    return opcode == 0x85 and src == 1 and dst == 0 and off == 0

