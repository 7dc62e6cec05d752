"""Where in the Rust source a program's instruction came from: the object's `.BTF.ext` line info.

`.BTF.ext` (the kernel's `include/uapi/linux/btf.h`, libbpf's `btf.h`) holds, per program
section, records of (instruction byte offset, file name, line, column); the names are strings
of `.BTF`. A verifier rejection names an instruction of the program; the record at or before
it is the source line the user wrote. Nothing here raises for a malformed object: no line
info is None.
"""

from __future__ import annotations

import io
import re
import struct
from dataclasses import dataclass
from pathlib import Path

_INSN = re.compile(r"^(\d+): \(")


@dataclass(frozen=True)
class SourceLine:
    """A place in the source: file as the compiler recorded it, line and column (1-based)."""

    file: str
    line: int
    column: int

    def shown(self, base: Path | None = None) -> str:
        """`src/main.rs:42:9`, relative to `base` when the file is below it."""
        path = Path(self.file)
        if base is not None and path.is_absolute() and path.is_relative_to(base):
            path = path.relative_to(base)
        return f"{path}:{self.line}:{self.column}" if self.column else f"{path}:{self.line}"

    def text(self) -> str | None:
        """The source line itself, when the file is still there."""
        try:
            with Path(self.file).open(encoding="utf-8", errors="replace") as stream:
                for number, content in enumerate(stream, 1):
                    if number == self.line:
                        return content.strip()
        except OSError:
            return None
        return None


def _string(strings: bytes, offset: int) -> str:
    end = strings.find(b"\0", offset)
    return strings[offset:end].decode("utf-8", "replace") if 0 <= offset < len(strings) and end >= 0 else ""


def line_table(data: bytes) -> dict[str, list[tuple[int, SourceLine]]]:
    """function -> [(instruction index in the function, source line)], sorted; {} without line info."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile
    from elftools.elf.sections import SymbolTableSection

    try:
        elf = ELFFile(io.BytesIO(data))
        btf, ext = elf.get_section_by_name(".BTF"), elf.get_section_by_name(".BTF.ext")
        if btf is None or ext is None:
            return {}
        order = "<" if elf.little_endian else ">"
        btf_data, ext_data = btf.data(), ext.data()
        _, _, _, hdr_len, _, _, str_off, str_len = struct.unpack_from(order + "HBBIIIII", btf_data)
        strings = btf_data[hdr_len + str_off : hdr_len + str_off + str_len]
        _, _, _, ext_hdr, _, _, line_off, line_len = struct.unpack_from(order + "HBBIIIII", ext_data)
        lines = ext_data[ext_hdr + line_off : ext_hdr + line_off + line_len]
        by_section: dict[str, list[tuple[int, SourceLine]]] = {}
        if len(lines) >= 4:
            (record_size,) = struct.unpack_from(order + "I", lines)
            position = 4
            while record_size >= 16 and position + 8 <= len(lines):
                name_off, count = struct.unpack_from(order + "II", lines, position)
                position += 8
                records = by_section.setdefault(_string(strings, name_off), [])
                for _ in range(count):
                    if position + 16 > len(lines):
                        break
                    insn_off, file_off, _, line_col = struct.unpack_from(order + "IIII", lines, position)
                    where = SourceLine(_string(strings, file_off), line_col >> 10, line_col & 0x3FF)
                    records.append((insn_off, where))
                    position += record_size
        functions: dict[str, list[tuple[int, SourceLine]]] = {}
        symbols = elf.get_section_by_name(".symtab")
        if not isinstance(symbols, SymbolTableSection):
            return {}
        for symbol in symbols.iter_symbols():
            if symbol["st_info"]["type"] != "STT_FUNC" or not isinstance(symbol["st_shndx"], int):
                continue
            section = elf.get_section(symbol["st_shndx"]).name
            start, size = symbol["st_value"], symbol["st_size"] or 1 << 30
            inside = [((off - start) // 8, where) for off, where in by_section.get(section, ())
                      if start <= off < start + size]  # fmt: skip
            if inside:
                functions[symbol.name] = sorted(inside, key=lambda item: item[0])
        return functions
    except (ELFError, struct.error, ValueError, KeyError, IndexError):
        return {}


def failing_instruction(log: str) -> int | None:
    """The index of the last instruction the verifier printed before it gave up."""
    found = None
    for line in log.splitlines():
        if (match := _INSN.match(line.strip())) is not None:
            found = int(match.group(1))
    return found


def _library(file: str) -> bool:
    """Code the user did not write: the standard library's sources, crates cargo downloaded."""
    return any(part in file for part in ("/rustlib/src/", "/.cargo/registry/", "/.cargo/git/", "/rustc/"))


def locate(
    table: dict[str, list[tuple[int, SourceLine]]], function: str, insn: int | None
) -> SourceLine | None:
    """The source line the user wrote for instruction `insn` of `function`: the last record at
    or before it, and when that is library code inlined there (`read_volatile`), the last one
    of the user's own before it."""
    records = table.get(function)
    if not records or insn is None:
        return None
    before = [where for index, where in records if index <= insn and where.line]
    own = [where for where in before if not _library(where.file)]
    return own[-1] if own else (before[-1] if before else None)
