"""A no_std eBPF bin crate built with the resolved toolchain is a real eBPF object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from elftools.elf.elffile import ELFFile

from buildbpf.objects import gate
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import cargo_build_ebpf


def build(toolchain: Toolchain, crate: Path, target: str, *, btf: bool = True) -> Path:
    _, executables = cargo_build_ebpf(toolchain, crate, target, btf=btf)
    assert len(executables) == 1
    return executables[0]


def test_minimal_crate_is_em_bpf(toolchain: Toolchain, fixture_crate: Any) -> None:
    crate = fixture_crate("minimal-ebpf")
    obj = build(toolchain, crate, "bpfel")
    with obj.open("rb") as stream:
        elf = ELFFile(stream)
        assert elf.header["e_machine"] == "EM_BPF"
        assert elf.header["e_type"] == "ET_REL"
        assert elf.little_endian
        assert {".BTF", ".BTF.ext", "xdp", "license"} <= {s.name for s in elf.iter_sections()}
    checked = gate.gate(obj, crate="minimal-ebpf", target="bpfel")
    assert checked.programs == ["xdp"]
    assert checked.license == "GPL"


def test_big_endian_target(toolchain: Toolchain, fixture_crate: Any) -> None:
    crate = fixture_crate("minimal-ebpf")
    obj = build(toolchain, crate, "bpfeb", btf=False)
    with obj.open("rb") as stream:
        elf = ELFFile(stream)
        assert elf.header["e_machine"] == "EM_BPF"
        assert not elf.little_endian
    assert gate.inspect(obj, target="bpfel").ok is False
    assert gate.inspect(obj, target="bpfeb", btf=False).ok
