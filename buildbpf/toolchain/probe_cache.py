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


def _entries(data: object) -> dict[str, dict[str, str | None]]:
    """The well-formed entries of a cache file: an edited or corrupted one (a key that is not
    `kind|path|mtime|size`, an answer that is not strings) is probed again, never trusted."""
    if not isinstance(data, dict):
        return {}
    return {
        key: value
        for key, value in data.items()
        if key.count("|") >= 3
        and isinstance(value, dict)
        and all(isinstance(v, str | None) for v in value.values())
    }


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
        entries = _entries(json.loads(read_regular(store, limit=CONFIG_LIMIT, what="probe cache")))
    except (BuildbpfError, ValueError, RecursionError):
        entries = {}  # none yet, or unreadable: probe again
    if key in entries:
        return dict(entries[key])
    value = compute()
    # forget binaries that are gone (test fakes, replaced toolchains)
    entries = {k: v for k, v in entries.items() if Path(k.split("|")[1]).exists()}
    entries[key] = value
    write_optional(store, json.dumps(entries, indent=1), "the probe cache")  # only costs speed
    return value


