"""buildbpf's data and cache directories as plain strings (no pathlib: the replay path imports this)."""

from __future__ import annotations

import os


def data_dir() -> str:
    """Where installed tools live (`BUILDBPF_HOME`, else `$XDG_DATA_HOME/buildbpf`)."""
    if explicit := os.environ.get("BUILDBPF_HOME"):
        return explicit
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return os.path.join(base, "buildbpf")


def cache_dir() -> str:
    """Where rebuildable caches live (`BUILDBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/buildbpf`)."""
    if explicit := os.environ.get("BUILDBPF_CACHE_DIR"):
        return explicit
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "buildbpf")
