"""Stable places outside any checkout where buildbpf keeps what it installs and caches."""

from __future__ import annotations

import os
from pathlib import Path

from buildbpf import xdg


def data_home() -> Path:
    """Where installed tools live (`BUILDBPF_HOME`, else `$XDG_DATA_HOME/buildbpf`)."""
    return Path(xdg.data_dir())


def cache_home() -> Path:
    """Where rebuildable caches live (`BUILDBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/buildbpf`)."""
    return Path(xdg.cache_dir())


def managed_linker_root(llvm_major: int) -> Path:
    """The `cargo install --root` that `buildbpf setup` uses for a bpf-linker on LLVM N."""
    return data_home() / "bpf-linker" / f"llvm-{llvm_major}"


def managed_linker(llvm_major: int) -> Path:
    """The bpf-linker binary `buildbpf setup` installs for LLVM `llvm_major`."""
    return managed_linker_root(llvm_major) / "bin" / "bpf-linker"


def rustup_home() -> Path:
    """rustup's home, as rustup itself finds it."""
    if explicit := os.environ.get("RUSTUP_HOME"):
        return Path(explicit)
    return Path.home() / ".rustup"


def cargo_home() -> Path:
    """cargo's home, as cargo itself finds it."""
    if explicit := os.environ.get("CARGO_HOME"):
        return Path(explicit)
    return Path.home() / ".cargo"
