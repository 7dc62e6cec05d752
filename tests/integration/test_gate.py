"""The artifact gate against real bad objects made by the real toolchain (cargo, bpf-linker, clang, cc).

Every crate is built once per module into one shared CARGO_TARGET_DIR; since builds of the same crate
with other options overwrite the same output path, each object is copied out right after its build.
"""

from __future__ import annotations

import json
import platform
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from buildbpf.errors import ArtifactError
from buildbpf.objects import gate
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, cargo_build_ebpf
from tests.support import skip_or_fail

TINY_C = "int add_one(int x) { return x + 1; }\n"


@dataclass(frozen=True)
class Built:
    """One cargo build: the linked object (copied out of the target dir) and every file cargo reported."""

    object: Path
    filenames: dict[str, list[Path]]


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("gate")


@pytest.fixture(scope="module")
def cargo_build(toolchain: Toolchain, workdir: Path) -> Any:
    target_dir = workdir / "target"
    done: dict[tuple[str, str, bool], Built] = {}

    def build(crate_name: str, target: str = "bpfel", *, btf: bool = True) -> Built:
        key = (crate_name, target, btf)
        if key in done:
            return done[key]
        crate = workdir / "crates" / crate_name
        if not crate.exists():
            shutil.copytree(FIXTURES / crate_name, crate, ignore=shutil.ignore_patterns("target"))
        completed, executables = cargo_build_ebpf(toolchain, crate, target, btf=btf, target_dir=target_dir)
        assert len(executables) == 1, completed.stdout[-2000:]
        assert executables[0].is_relative_to(target_dir), executables
        filenames: dict[str, list[Path]] = {}
        for line in completed.stdout.splitlines():
            if line.startswith("{"):
                message = json.loads(line)
                if message.get("reason") == "compiler-artifact":
                    names = filenames.setdefault(message["target"]["name"], [])
                    names += [Path(f) for f in message["filenames"]]
        kept = workdir / "objects" / f"{crate_name}-{target}-{'btf' if btf else 'nobtf'}.o"
        kept.parent.mkdir(exist_ok=True)
        shutil.copyfile(executables[0], kept)
        done[key] = Built(kept, filenames)
        return done[key]

    return build


@pytest.fixture(scope="module")
def good(cargo_build: Any) -> Built:
    built: Built = cargo_build("minimal-ebpf", "bpfel", btf=True)
    return built


def tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    skip_or_fail(f"none of {', '.join(names)} is on PATH")
    raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def tiny_c(workdir: Path) -> Path:
    source = workdir / "tiny.c"
    source.write_text(TINY_C)
    return source


def rejected(path: Path, *, crate: str, target: str = "bpfel", btf: bool = True) -> ArtifactError:
    """Assert the gate rejects `path` with an ArtifactError naming crate, file and a fix."""
    with pytest.raises(ArtifactError) as caught:
        gate.gate(path, crate=crate, target=target, btf=btf)
    error = caught.value
    assert error.exit_code == 5
    assert f"crate {crate}" in error.message
    assert str(path) in error.message
    assert error.fix
    return error


def problem_texts(path: Path, **options: Any) -> list[str]:
    result = gate.inspect(path, **options)
    assert not result.ok
    return [p.what for p in result.problems]


def test_good_object_passes(good: Built) -> None:
    result = gate.inspect(good.object, target="bpfel", btf=True)
    assert result.ok, result.problems
    assert result.programs == ["xdp"]
    assert result.license == "GPL"
    assert result.has_btf and result.has_btf_ext
    assert result.undefined == []
    assert gate.gate(good.object, crate="minimal-ebpf").programs == ["xdp"]


def test_rlib_is_an_ar_archive(good: Built) -> None:
    rlibs = [f for f in good.filenames.get("core", []) if f.suffix == ".rlib"]
    assert len(rlibs) == 1, good.filenames
    (rlib,) = rlibs
    assert rlib.name.startswith("libcore-")
    assert rlib.read_bytes()[:8] == b"!<arch>\n"
    (what,) = problem_texts(rlib)
    assert "ar archive" in what
    error = rejected(rlib, crate="minimal-ebpf")
    assert "ar archive" in error.message
    assert "[[bin]]" in (error.fix or "")


def ar_members(archive: bytes) -> dict[str, bytes]:
    """Members of a GNU or BSD ar archive (enough for rlibs)."""
    assert archive.startswith(b"!<arch>\n")
    members: dict[str, bytes] = {}
    long_names = b""
    offset = 8
    while offset + 60 <= len(archive):
        header = archive[offset : offset + 60]
        assert header[58:60] == b"`\n", header
        name = header[:16].decode().rstrip()
        size = int(header[48:58].decode())
        data = archive[offset + 60 : offset + 60 + size]
        if name.startswith("#1/"):  # BSD: the name precedes the data
            length = int(name[3:])
            name, data = data[:length].rstrip(b"\0").decode(), data[length:]
        elif name == "//":
            long_names = data
        elif name.startswith("/") and name[1:].isdigit():
            start = int(name[1:])
            name = long_names[start : long_names.index(b"/\n", start)].decode()
        members[name.rstrip("/")] = data
        offset += 60 + size + (size & 1)
    return members


def test_rustc_object_for_bpf_is_bitcode(good: Built, workdir: Path) -> None:
    (rlib,) = [f for f in good.filenames["core"] if f.suffix == ".rlib"]
    objects = {n: d for n, d in ar_members(rlib.read_bytes()).items() if n.endswith(".o")}
    assert objects, "the core rlib holds no .o member"
    name, data = sorted(objects.items())[0]
    assert data.startswith(gate.BITCODE_MAGIC), data[:8]
    path = workdir / name
    path.write_bytes(data)
    (what,) = problem_texts(path)
    assert "LLVM bitcode" in what
    assert "bitcode" in rejected(path, crate="minimal-ebpf").message


@pytest.mark.parametrize(
    ("flags", "magic"),
    [
        (["-target", "bpf", "-emit-llvm", "-c"], gate.BITCODE_MAGIC),
        (["-target", "bpf", "-flto=thin", "-c"], gate.BITCODE_MAGIC),
        # Darwin targets wrap bitcode in the 0x0B17C0DE header.
        (["-target", "x86_64-apple-darwin", "-emit-llvm", "-c"], gate.BITCODE_WRAPPER_MAGIC),
    ],
    ids=["emit-llvm", "thin-lto-object", "wrapper"],
)
def test_clang_bitcode(tiny_c: Path, workdir: Path, flags: list[str], magic: bytes) -> None:
    clang = tool("clang-22", "clang")
    output = workdir / f"clang-{'-'.join(flags[1:3])}-{magic.hex()}.o"
    subprocess.run([clang, *flags, str(tiny_c), "-o", str(output)], check=True, timeout=120)
    assert output.read_bytes().startswith(magic)
    (what,) = problem_texts(output)
    assert "LLVM bitcode" in what
    assert "bpf-linker did not link it" in what
    error = rejected(output, crate="tiny")
    assert "bitcode" in error.message
    assert "bpf-linker" in (error.fix or "")


def test_host_object(tiny_c: Path, workdir: Path) -> None:
    cc = tool("cc", "gcc", "clang")
    output = workdir / "host.o"
    subprocess.run([cc, "-c", str(tiny_c), "-o", str(output)], check=True, timeout=120)
    texts = problem_texts(output)
    machine = next((t for t in texts if "e_machine" in t), None)
    assert machine is not None, texts
    assert "not EM_BPF" in machine
    assert "host object" in machine
    if platform.machine() == "x86_64":
        assert "x86-64" in machine
    error = rejected(output, crate="tiny")
    assert "EM_BPF" in error.message
    assert "--target bpfel-unknown-none" in (error.fix or "")


def test_host_executable(tiny_c: Path, workdir: Path) -> None:
    cc = tool("cc", "gcc", "clang")
    main = workdir / "main.c"
    main.write_text(TINY_C + "int main(void) { return add_one(-1); }\n")
    output = workdir / "host-exe"
    subprocess.run([cc, str(main), "-o", str(output)], check=True, timeout=120)
    texts = problem_texts(output)
    assert any("not EM_BPF" in t for t in texts), texts
    assert any("ET_REL" in t and ("ET_DYN" in t or "ET_EXEC" in t) for t in texts), texts
    rejected(output, crate="tiny")


@pytest.mark.parametrize("cut", ["16", "64", "half", "minus-1"])
def test_truncated_real_object(good: Built, workdir: Path, cut: str) -> None:
    data = good.object.read_bytes()
    length = {"16": 16, "64": 64, "half": len(data) // 2, "minus-1": len(data) - 1}[cut]
    assert 0 < length < len(data)
    path = workdir / f"truncated-{cut}.o"
    path.write_bytes(data[:length])
    texts = problem_texts(path)
    assert any("corrupt ELF" in t for t in texts), texts
    assert "corrupt ELF" in rejected(path, crate="minimal-ebpf").message


def test_object_without_license_passes_the_gate(cargo_build: Any) -> None:
    # Aya's loader tells the kernel "GPL" when there is no `license` section (PITFALLS #23)
    built: Built = cargo_build("no-license-ebpf", "bpfel", btf=True)
    result = gate.gate(built.object, crate="no-license-ebpf")
    assert result.programs == ["xdp"]
    assert result.license is None


def test_big_endian_object_when_little_endian_expected(cargo_build: Any) -> None:
    built: Built = cargo_build("minimal-ebpf", "bpfeb", btf=False)
    assert built.object.read_bytes()[5] == 2  # EI_DATA = ELFDATA2MSB
    texts = problem_texts(built.object, target="bpfel", btf=False)
    (what,) = texts
    assert "byte order is bpfeb" in what
    assert "bpfel was expected" in what
    error = rejected(built.object, crate="minimal-ebpf", target="bpfel", btf=False)
    assert "bpfeb" in error.message
    assert "bpfel-unknown-none" in (error.fix or "")
    # The same object is fine when bpfeb is what was asked for.
    assert gate.inspect(built.object, target="bpfeb", btf=False).ok


def test_object_built_without_btf(cargo_build: Any) -> None:
    built: Built = cargo_build("minimal-ebpf", "bpfel", btf=False)
    result = gate.inspect(built.object, btf=True)
    assert not result.has_btf
    assert result.programs == ["xdp"]
    assert result.license == "GPL"
    (what,) = [p.what for p in result.problems]
    assert "no .BTF section" in what
    error = rejected(built.object, crate="minimal-ebpf", btf=True)
    assert ".BTF" in error.message
    assert "--btf" in (error.fix or "")
    # Checked with BTF off, the same object passes.
    assert gate.inspect(built.object, btf=False).ok
