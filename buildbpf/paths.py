"""Stable places outside any checkout where buildbpf keeps what it installs and caches."""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import tempfile
from pathlib import Path

from buildbpf import xdg

log = logging.getLogger("buildbpf")
_scratch: list[Path] = []  # the fallback cache of this process, removed when it exits


def data_home() -> Path:
    """Where installed tools live (`BUILDBPF_HOME`, else `$XDG_DATA_HOME/buildbpf`)."""
    return Path(xdg.data_dir())


def cache_home() -> Path:
    """Where rebuildable caches live (`BUILDBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/buildbpf`)."""
    return Path(xdg.cache_dir())


def usable_cache(*parts: str) -> Path:
    """`cache_home()/parts`, created; a private temporary directory (removed at exit) when the
    cache cannot be written (read-only HOME, unwritable XDG_CACHE_HOME): a cache only saves
    time, so its absence is a debug line, never a failure."""
    directory = cache_home().joinpath(*parts)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory
        reason = "not writable"
    except OSError as exc:
        reason = exc.strerror or str(exc)
    return scratch_cache(*parts, reason=f"{directory}: {reason}")


def scratch_cache(*parts: str, reason: str) -> Path:
    """The fallback of `usable_cache`: a directory under this process's private temporary one."""
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="buildbpf-cache-")))
        atexit.register(shutil.rmtree, _scratch[0], ignore_errors=True)
    log.debug("cache not usable (%s); using %s for this run", reason, _scratch[0])
    directory = _scratch[0].joinpath(*parts)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


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
