"""A cache of tool probes, keyed by the binary itself, so no-op builds stay fast."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

from buildbpf import _fs
from buildbpf._fs import (
    CONFIG_LIMIT,
    read_regular,
    write_optional,
)
from buildbpf.errors import BuildbpfError

log = logging.getLogger("buildbpf")



# --- a cache of tool probes -----------------------------------------------------------------


def cached_probe(
    tool: Path, kind: str, compute: Callable[[], dict[str, str | None]]
) -> dict[str, str | None]:
    """`compute()` for this exact binary, remembered across runs (no-op builds stay fast).

    The key is the binary's path, mtime and size, so an upgraded or rebuilt tool is probed
    again; a broken cache file is ignored and rewritten.
    """
    import json

    try:
        stat = tool.stat()
    except OSError:
        return compute()
    key = f"{kind}|{tool}|{stat.st_mtime_ns}|{stat.st_size}"
    store = _fs.cache_home() / "probes.json"
    try:
        entries = json.loads(read_regular(store, limit=CONFIG_LIMIT, what="probe cache"))
        if not isinstance(entries, dict):
            entries = {}
    except (BuildbpfError, ValueError, RecursionError):
        entries = {}  # none yet, or unreadable: probe again
    if key in entries and isinstance(entries[key], dict):
        return dict(entries[key])
    value = compute()
    # forget binaries that are gone (test fakes, replaced toolchains)
    entries = {k: v for k, v in entries.items() if Path(k.split("|")[1]).exists()}
    entries[key] = value
    write_optional(store, json.dumps(entries, indent=1), "the probe cache")  # only costs speed
    return value


