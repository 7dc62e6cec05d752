"""The toolchain an eBPF build needs: rustc/cargo (`rust`) and a bpf-linker on the same LLVM
(`linker`), what their versions say (`versions`), toolchain pins and rust-toolchain.toml
(`pin`), programs the user named (`named`), a probe cache (`probe_cache`), installing what is
missing (`provision`) and diagnosing the machine (`doctor`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from buildbpf import _fs
from buildbpf.toolchain import rust as rust_module
from buildbpf.toolchain.linker import BpfLinker, resolve_linker
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import (
    RUST_SRC_MARKER,
    RustToolchain,
    path_rustcs,
    resolve_rust,
    rustup_toolchains,
)

log = logging.getLogger("buildbpf")


@dataclass(frozen=True)
class Toolchain:
    """Everything an eBPF build needs: rustc/cargo and a matching bpf-linker."""

    rust: RustToolchain
    linker: BpfLinker


def resolve(
    pin: Pin | None = None, bpf_linker: str | None = None, linker_origin: str = "--bpf-linker"
) -> Toolchain:
    """Resolve the full toolchain or raise a ToolchainError with the fix.

    `linker_origin` names where `bpf_linker` came from, for its error messages.
    """
    rust = resolve_rust(pin)
    linker = resolve_linker(rust.llvm_major, bpf_linker, linker_origin).require()
    return Toolchain(rust, linker)


def resolution_inputs(toolchain: Toolchain) -> list[Path]:
    """Every path whose change, appearance or removal could change what `resolve` picks.

    The candidates `rustup_toolchains`, `path_rustcs` and `linker_candidates` look at,
    present or not, and the chosen binaries; toolchain files are `TOOLCHAIN_FILES` in the
    directories `file_pin` searches.
    """
    files = [_fs.rustup_home() / "toolchains"]
    for candidate in [*rustup_toolchains(), *path_rustcs()]:
        files += [candidate.rustc, candidate.sysroot / RUST_SRC_MARKER]
        files += [candidate.cargo] if candidate.cargo else []
    for directory in [*os.environ.get("PATH", "").split(os.pathsep), *map(str, rust_module.SYSTEM_BIN_DIRS)]:
        if directory:
            files += [Path(directory) / name for name in ("rustc", "cargo", "bpf-linker")]
    files.append(_fs.cargo_home() / "bin" / "bpf-linker")
    rust = toolchain.rust
    if rust.llvm_major is not None:
        files.append(_fs.managed_linker(rust.llvm_major))
    return [*files, rust.rustc, rust.cargo, toolchain.linker.path]
