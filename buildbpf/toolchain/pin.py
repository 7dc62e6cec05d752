"""The toolchain pin: what a user asked for (`Pin`), and what a `rust-toolchain.toml` asks for.

Which pin wins (command line, environment, `buildbpf.toml`, then the toolchain file) is decided
once, in `buildbpf.build.settings.toolchain_pins`; this module only reads toolchain files.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from buildbpf._fs import BOM, is_file, parse_toml, read_text
from buildbpf.errors import ConfigError

TOOLCHAIN_FILES = ("rust-toolchain", "rust-toolchain.toml")


@dataclass(frozen=True)
class Pin:
    """A toolchain the user asked for, and who asked (for the error message)."""

    name: str
    origin: str  # "--toolchain", "BUILDBPF_TOOLCHAIN", "crates/x-ebpf/rust-toolchain.toml"
    explicit: bool = True  # False for rust-toolchain.toml: a hint rustup users rely on
    components: tuple[str, ...] = ()  # what a rust-toolchain.toml asks rustup to add


def parse_toolchain_file(text: str, path: Path) -> str | None:
    """The channel named by a `rust-toolchain.toml` (or legacy one-line `rust-toolchain`)."""
    stripped = text.strip()
    if not stripped:
        return None
    if path.suffix != ".toml" and "\n" not in stripped and "[" not in stripped:
        return stripped  # legacy format: the whole file is the channel
    data = parse_toml(text, path, fix="fix the file or delete it")
    table = data.get("toolchain")
    if not isinstance(table, dict):
        raise ConfigError(f"{path}: no [toolchain] table", fix='write [toolchain] channel = "nightly"')
    channel = table.get("channel")
    if channel is not None and not isinstance(channel, str):
        raise ConfigError(f"{path}: toolchain.channel must be a string")
    return channel


def find_toolchain_file(start: Path) -> Path | None:
    """The nearest `rust-toolchain.toml` / `rust-toolchain` at or above `start`, like rustup."""
    for directory in (start, *start.parents):
        for name in TOOLCHAIN_FILES:
            candidate = directory / name
            if is_file(candidate):
                return candidate
    return None


def toolchain_file_components(text: str) -> tuple[str, ...]:
    """`toolchain.components` of a rust-toolchain.toml (empty for the legacy format)."""
    try:
        table = parse_toml(text, Path("rust-toolchain.toml")).get("toolchain")
    except ConfigError:
        return ()
    components = table.get("components") if isinstance(table, dict) else None
    if not isinstance(components, list):
        return ()
    return tuple(c for c in components if isinstance(c, str))


def file_pin(start: Path | None) -> Pin | None:
    """The pin of the nearest toolchain file at or above `start` (a preference, not explicit)."""
    if start is None or (found := find_toolchain_file(start)) is None:
        return None
    text = read_text(found, what="toolchain file").removeprefix(BOM)
    channel = parse_toolchain_file(text, found)
    if not channel:
        return None
    return Pin(channel, str(found), explicit=False, components=toolchain_file_components(text))
