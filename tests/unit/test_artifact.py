"""The artifact gate's verdicts on files that are not eBPF objects (no processes: bytes in tmp files)."""

from __future__ import annotations

import os
import struct
from pathlib import Path

import pytest

from buildbpf.errors import ArtifactError, BuildbpfError
from buildbpf.objects import gate


def elf_header(
    *,
    elfclass: int = 2,
    data: int = 1,
    machine: int = gate.EM_BPF,
    e_type: int = 1,
    shoff: int = 0,
    shnum: int = 0,
    shstrndx: int = 0,
) -> bytes:
    """A 64-byte ELF64 header (little- or big-endian per `data`), without sections by default."""
    ident = b"\x7fELF" + bytes([elfclass, data, 1, 0]) + bytes(8)
    order = "<" if data == 1 else ">"
    rest = struct.pack(
        order + "HHIQQQIHHHHHH",
        e_type,
        machine,
        1,  # e_version
        0,  # e_entry
        0,  # e_phoff
        shoff,
        0,  # e_flags
        64,  # e_ehsize
        0,  # e_phentsize
        0,  # e_phnum
        64,  # e_shentsize
        shnum,
        shstrndx,
    )
    header = ident + rest
    assert len(header) == 64
    return header


def write(tmp_path: Path, content: bytes, name: str = "obj") -> Path:
    path = tmp_path / name
    path.write_bytes(content)
    return path


def only_problem(result: gate.Inspection) -> gate.Problem:
    assert not result.ok
    assert len(result.problems) == 1, result.problems
    problem = result.problems[0]
    assert problem.what and problem.fix
    return problem


def test_empty_file(tmp_path: Path) -> None:
    problem = only_problem(gate.inspect(write(tmp_path, b"")))
    assert "empty" in problem.what
    assert "rebuild" in problem.fix


@pytest.mark.parametrize("magic", [gate.BITCODE_MAGIC, b"BC\xc0\xde"], ids=["constant", "literal"])
def test_llvm_bitcode(tmp_path: Path, magic: bytes) -> None:
    content = magic + b"\x35\x14\x00\x00\x05\x00\x00\x00" + os.urandom(64)
    problem = only_problem(gate.inspect(write(tmp_path, content)))
    assert "LLVM bitcode" in problem.what
    assert "bpf-linker" in problem.what
    assert "bpf-linker" in problem.fix


def test_bitcode_wrapper(tmp_path: Path) -> None:
    # 0x0B17C0DE as a little-endian u32 on disk, then version, offset, size, cputype.
    content = struct.pack("<IIIII", 0x0B17C0DE, 0, 20, 64, 7) + b"BC\xc0\xde" + bytes(60)
    assert content.startswith(b"\xde\xc0\x17\x0b")
    problem = only_problem(gate.inspect(write(tmp_path, content)))
    assert "LLVM bitcode" in problem.what


def test_ar_archive(tmp_path: Path) -> None:
    member = b"lib.rmeta/      0           0     0     644     4         `\n" + b"rust"
    problem = only_problem(gate.inspect(write(tmp_path, b"!<arch>\n" + member, "libcore-0123.rlib")))
    assert "ar archive" in problem.what
    assert "[[bin]]" in problem.fix


def test_ar_magic_without_newline_is_not_an_archive(tmp_path: Path) -> None:
    problem = only_problem(gate.inspect(write(tmp_path, b"!<arch>")))
    assert "ar archive" not in problem.what
    assert "not an ELF file" in problem.what


@pytest.mark.parametrize(
    "content",
    [
        bytes(range(256)) * 4,
        b"\x00\x01\x02\x03" + os.urandom(200),
        b"#!/bin/sh\necho not an object\n",
        b"rust\x00\x00\x00\x09",  # an .rmeta
        b"\x7fEL",  # ELF magic cut short
        b"\x7felf" + bytes(60),  # wrong case
        b"\xcf\xfa\xed\xfe" + bytes(60),  # Mach-O
    ],
    ids=["bytes", "random", "script", "rmeta", "short-magic", "lowercase-magic", "mach-o"],
)
def test_not_elf(tmp_path: Path, content: bytes) -> None:
    problem = only_problem(gate.inspect(write(tmp_path, content)))
    assert "not an ELF file" in problem.what
    assert repr(content[:4]) in problem.what


@pytest.mark.parametrize("length", [4, 5, 6, 16, 17, 24, 40, 52, 63])
def test_truncated_elf_header(tmp_path: Path, length: int) -> None:
    content = elf_header()[:length]
    problem = only_problem(gate.inspect(write(tmp_path, content)))
    assert "corrupt ELF" in problem.what
    assert "rebuild" in problem.fix


def test_section_table_past_end_of_file(tmp_path: Path) -> None:
    content = elf_header(shoff=4096, shnum=5, shstrndx=4)
    result = gate.inspect(write(tmp_path, content))
    assert not result.ok
    assert any("corrupt ELF" in p.what for p in result.problems), result.problems


def test_missing_file(tmp_path: Path) -> None:
    problem = only_problem(gate.inspect(tmp_path / "does-not-exist"))
    assert "cannot read" in problem.what
    assert "No such file" in problem.what
    assert "build the eBPF crate" in problem.fix


def test_directory(tmp_path: Path) -> None:
    problem = only_problem(gate.inspect(tmp_path))
    assert "cannot read" in problem.what


def test_host_elf_header(tmp_path: Path) -> None:
    result = gate.inspect(write(tmp_path, elf_header(machine=62)))
    assert not result.ok
    texts = [p.what for p in result.problems]
    assert any("x86-64" in t and "EM_BPF" in t and "host object" in t for t in texts), texts


def test_executable_instead_of_relocatable(tmp_path: Path) -> None:
    result = gate.inspect(write(tmp_path, elf_header(e_type=2)))
    assert any("ET_EXEC" in p.what and "ET_REL" in p.what for p in result.problems), result.problems


def test_elfclass32(tmp_path: Path) -> None:
    ident = b"\x7fELF" + bytes([1, 1, 1, 0]) + bytes(8)
    rest = struct.pack("<HHIIIIIHHHHHH", 1, gate.EM_BPF, 1, 0, 0, 0, 0, 52, 0, 0, 40, 0, 0)
    result = gate.inspect(write(tmp_path, ident + rest))
    assert any("ELFCLASS32" in p.what for p in result.problems), result.problems


def test_big_endian_header_when_little_endian_expected(tmp_path: Path) -> None:
    path = write(tmp_path, elf_header(data=2))
    result = gate.inspect(path, target="bpfel")
    assert any("bpfeb" in p.what and "bpfel was expected" in p.what for p in result.problems)
    assert not any("bpfel was expected" in p.what for p in gate.inspect(path, target="bpfeb").problems)


def test_bpf_header_without_sections(tmp_path: Path) -> None:
    # A valid EM_BPF/ET_REL header and nothing else: no programs, no license, no BTF.
    result = gate.inspect(write(tmp_path, elf_header()), btf=True)
    texts = " | ".join(p.what for p in result.problems)
    assert "no program section" in texts
    assert "license" not in texts  # Aya's loader says "GPL" for an object without one
    assert "no .BTF section" in texts
    assert result.programs == []
    assert result.license is None
    without_btf = gate.inspect(write(tmp_path, elf_header(), "nobtf"), btf=False)
    assert not any("BTF" in p.what for p in without_btf.problems)


@pytest.mark.parametrize("seed", range(20))
def test_inspect_never_raises_on_garbage_after_elf_magic(tmp_path: Path, seed: int) -> None:
    import random

    rng = random.Random(seed)
    header = bytearray(elf_header(shoff=64, shnum=rng.randint(1, 8), shstrndx=rng.randint(0, 8)))
    body = bytes(rng.getrandbits(8) for _ in range(rng.randint(0, 1024)))
    result = gate.inspect(write(tmp_path, bytes(header) + body))
    assert not result.ok


def test_gate_raises_artifact_error(tmp_path: Path) -> None:
    path = write(tmp_path, b"BC\xc0\xde" + bytes(32), "my-probe")
    with pytest.raises(ArtifactError) as caught:
        gate.gate(path, crate="my-probe-ebpf", target="bpfel")
    error = caught.value
    assert isinstance(error, BuildbpfError)
    assert error.exit_code == 5
    assert "my-probe-ebpf" in error.message
    assert str(path) in error.message
    assert "bitcode" in error.message
    assert error.fix is not None and "bpf-linker" in error.fix
    assert str(error) == error.message


def test_gate_reports_every_problem_and_the_first_fix(tmp_path: Path) -> None:
    path = write(tmp_path, elf_header(machine=62, e_type=2))
    with pytest.raises(ArtifactError) as caught:
        gate.gate(path, crate="c", btf=True)
    assert "EM_BPF" in caught.value.message
    assert "ET_REL" in caught.value.message
    first = gate.inspect(path).problems[0]
    assert caught.value.fix == first.fix


def test_gate_on_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "target" / "bpfel-unknown-none" / "release" / "gone"
    with pytest.raises(ArtifactError) as caught:
        gate.gate(path, crate="gone-ebpf")
    assert "gone-ebpf" in caught.value.message
    assert str(path) in caught.value.message
    assert caught.value.fix
    assert caught.value.exit_code == 5


def test_target_may_be_a_triple_and_must_be_bpf(tmp_path: Path) -> None:
    path = tmp_path / "empty.o"
    path.write_bytes(b"")
    assert gate.inspect(path, target="bpfeb-unknown-none").problems
    with pytest.raises(ValueError, match="unknown bpf target"):
        gate.inspect(path, target="x86_64")


@pytest.mark.parametrize(("edition", "unsafe"), [("2021", False), ("2024", True), (None, False)])
def test_license_fix_compiles_in_the_crates_edition(edition: str | None, unsafe: bool) -> None:
    line = gate.license_declaration(edition)
    assert ('#[unsafe(link_section = "license")] #[unsafe(no_mangle)]' in line) == unsafe
    assert line.endswith('static LICENSE: [u8; 4] = *b"GPL\\0";')


def test_helper_calls_and_the_license_verdict(tmp_path: Path) -> None:
    from buildbpf.objects import facts
    from buildbpf.objects.report import ObjectReport, _judge_license

    # r1 = 0; call 113 (bpf_probe_read_kernel); call 5 (ktime, not GPL-only); call pseudo (src 1)
    code = bytes.fromhex("b701000000000000" "8500000071000000" "8500000005000000" "8510000007000000")
    assert facts.helper_calls(code) == {113, 5}
    big = bytes.fromhex("b710000000000000" "8500000000000071")
    assert facts.helper_calls(big, little_endian=False) == {113}
    report = ObjectReport("x", license="Proprietary", helpers=["bpf_probe_read_kernel"])
    _judge_license(report)
    assert report.gpl_compatible is False
    assert "bpf_probe_read_kernel" in report.warnings[0]
    quiet = ObjectReport("x", license="Proprietary")
    _judge_license(quiet)
    assert quiet.warnings == []  # not GPL-compatible, but nothing the kernel would refuse
    absent = ObjectReport("x", helpers=["bpf_probe_read_kernel"])
    _judge_license(absent)
    assert absent.warnings == [] and 'tells the kernel "GPL"' in absent.notes[0]


def _elf_header(machine: int, shoff: int, shnum: int) -> bytes:
    import struct

    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    return ident + struct.pack("<HHIQQQIHHHHHH", 1, machine, 1, 0, 0, shoff, 0, 64, 0, 0, 64, shnum, 0)


def test_embedded_objects_found_by_header_and_cut_at_section_table(tmp_path: Path) -> None:
    from buildbpf.objects.gate import EM_BPF, embedded_objects

    bpf = _elf_header(EM_BPF, 64, 2) + b"\xaa" * 128  # header, then 2 section headers
    host = _elf_header(62, 64, 0)  # the binary's own header: x86-64, never an embedded object
    decoy = _elf_header(EM_BPF, 1 << 40, 3)  # a section table past the end: not an object
    binary = tmp_path / "userspace"
    binary.write_bytes(host + b"\0" * 100 + bpf + b"junk" + decoy + b"\0" * 50 + bpf)
    assert embedded_objects(binary) == [bpf, bpf]
    binary.write_bytes(host + b"\0" * 1000)
    assert embedded_objects(binary) == []
