"""Stand-ins for the machine in unit tests: toolchain directories, a small eBPF object, and
the answers of the probes buildbpf would otherwise run (rustc -vV, bpf-linker --version)."""

from __future__ import annotations

import struct
from pathlib import Path
from typing import Any

import pytest

from buildbpf.toolchain.rust import RUST_SRC_MARKER

RUSTC_VV = """rustc 1.96.0 (abc 2026-05-01) (built from a source tarball)
binary: rustc
commit-hash: abc
commit-date: 2026-05-01
host: x86_64-unknown-linux-gnu
release: 1.96.0
LLVM version: 22.1.8
"""


def executable(path: Path, text: str = "#!/bin/sh\n", mode: int = 0o755) -> Path:
    """A file at `path` (parents created) with `mode`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    path.chmod(mode)
    return path


def sysroot(root: Path, *, rust_src: bool = True, tools: tuple[str, ...] = ("rustc", "cargo")) -> Path:
    """A toolchain directory: `bin/<tools>` and, with `rust_src`, the rust-src marker."""
    for tool in tools:
        executable(root / "bin" / tool)
    if rust_src:
        marker = root / RUST_SRC_MARKER
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.write_text("")
    return root


def answer_probes(monkeypatch: pytest.MonkeyPatch, *, linker_llvm: str | None = "22.1.8") -> None:
    """`cached_probe` answers as a rustc on LLVM 22 and a bpf-linker on `linker_llvm` would."""
    from buildbpf.toolchain import probe_cache

    def fake(tool: Path, kind: str, compute: object) -> dict[str, str | None]:
        if kind == "rustc -vV":
            return {"stdout": RUSTC_VV}
        if kind == "bpf-linker":
            return {"version": "0.13.0", "llvm": linker_llvm}
        raise AssertionError(f"unexpected probe {kind} of {tool}")

    monkeypatch.setattr(probe_cache, "cached_probe", fake)


def isolate_toolchains(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, path_dirs: list[Path]) -> None:
    """No rustup, no ~/.cargo, no buildbpf-installed linker, no /usr/bin: only `path_dirs`."""
    from buildbpf.toolchain import rust

    for variable in ("BUILDBPF_RUSTC", "BUILDBPF_CARGO", "BUILDBPF_BPF_LINKER", "BUILDBPF_TOOLCHAIN"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("RUSTUP_HOME", str(tmp_path / "no-rustup"))
    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "no-cargo-home"))
    monkeypatch.setenv("BUILDBPF_HOME", str(tmp_path / "no-buildbpf-home"))
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("PATH", ":".join(str(d) for d in path_dirs))
    monkeypatch.setattr(rust, "SYSTEM_BIN_DIRS", ())


def workspace_metadata(root: Path, ebpf: str = "x-ebpf", user: str = "x") -> dict[str, Any]:
    """`cargo metadata` of a workspace at `root` with an eBPF bin crate and a userspace crate."""

    def package(name: str, deps: list[str]) -> dict[str, Any]:
        return {
            "id": f"path+file://{root / name}#{name}@0.1.0",
            "name": name,
            "manifest_path": str(root / name / "Cargo.toml"),
            "edition": "2021",
            "dependencies": [{"name": d, "kind": None} for d in deps],
            "targets": [{"name": name, "kind": ["bin"]}],
        }

    packages = [package(ebpf, ["aya-ebpf"]), package(user, ["aya"])]
    return {
        "packages": packages,
        "workspace_members": [p["id"] for p in packages],
        "workspace_root": str(root),
        "target_directory": str(root / "target"),
        "metadata": None,
    }


# --- a small eBPF object ------------------------------------------------------------------

_SHDR = struct.Struct("<IIQQQQIIQQ")
_XDP_PASS = bytes.fromhex("b7000000020000009500000000000000")  # r0 = XDP_PASS; exit


def _strtab(names: list[str]) -> tuple[bytes, dict[str, int]]:
    table, offsets = b"\0", {"": 0}
    for name in names:
        offsets[name] = len(table)
        table += name.encode() + b"\0"
    return table, offsets


def bpf_object(*, btf: bool = False, btf_ext: bool | None = None) -> bytes:
    """A little-endian eBPF ELF that the gate accepts: one `xdp` program and a GPL license;
    with `btf`, an empty (valid) `.BTF` and, unless `btf_ext` is False, a `.BTF.ext`."""
    btf_ext = btf if btf_ext is None else btf_ext
    sections: list[tuple[str, int, int, bytes]] = [  # name, type, flags, data
        ("xdp", 1, 0x6, _XDP_PASS),  # PROGBITS, ALLOC | EXECINSTR
        ("license", 1, 0x3, b"GPL\0"),  # PROGBITS, WRITE | ALLOC
    ]
    if btf:
        header = struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 0, 0, 1)
        sections.append((".BTF", 1, 0, header + b"\0"))
    if btf_ext:
        sections.append((".BTF.ext", 1, 0, struct.pack("<HBBIIIII", 0xEB9F, 1, 0, 24, 0, 0, 0, 0)))
    strings, name_at = _strtab(["xdp_pass", "LICENSE"])
    symbols = bytes(24) + struct.pack("<IBBHQQ", name_at["xdp_pass"], 0x12, 0, 1, 0, len(_XDP_PASS))
    symbols += struct.pack("<IBBHQQ", name_at["LICENSE"], 0x11, 0, 2, 0, 4)
    symtab_index = len(sections) + 1
    sections += [(".symtab", 2, 0, symbols), (".strtab", 3, 0, strings)]
    shstr, shname_at = _strtab([s[0] for s in sections] + [".shstrtab"])
    sections.append((".shstrtab", 3, 0, shstr))
    body = b""
    headers = [bytes(_SHDR.size)]
    offset = 64
    for name, kind, flags, data in sections:
        link, info, entsize = (symtab_index + 1, 1, 24) if kind == 2 else (0, 0, 0)
        headers.append(_SHDR.pack(shname_at[name], kind, flags, 0, offset, len(data), link, info, 8, entsize))
        body += data
        offset += len(data)
    padding = (-offset) % 8
    shoff = offset + padding
    ident = b"\x7fELF" + bytes([2, 1, 1, 0]) + bytes(8)
    elf_header = ident + struct.pack(
        "<HHIQQQIHHHHHH", 1, 247, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(headers), len(headers) - 1
    )
    return elf_header + body + bytes(padding) + b"".join(headers)
