"""Polite writer of an eBPF crate's `.cargo/config.toml`.

buildbpf owns only the keys it writes (marked with a `# buildbpf` comment): the bpf
`build.target`, `unstable.build-std`, and the bpf target's `linker` and `rustflags`.
Everything else -- comments, order, unrelated tables -- survives byte for byte. A key the
user wrote (no marker) with another value is left alone and reported. The file is
written only when its content changes, atomically (temp file + rename), through a symbolic
link to its target, keeping its line endings (CRLF) and byte order mark.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomlkit
import tomlkit.exceptions
from tomlkit.container import Container
from tomlkit.items import Comment, InlineTable, Item, Table, Whitespace

from buildbpf import _fs
from buildbpf._fs import BOM, CONFIG_LIMIT, exists, read_text
from buildbpf.errors import ConfigError, FileSystemError

write_atomic = _fs.write_atomic  # its home before buildbpf/files.py; scaffold imports it from here
MARKER = "buildbpf"
CONFIG_NAMES = ("config.toml", "config")  # what cargo reads in a `.cargo` directory, in order


class ConfigStatus(enum.StrEnum):
    """What happened to the file."""

    CREATED = "create"
    UPDATED = "update"
    UNCHANGED = "unchanged"
    NOT_WRITTEN = "not written"  # an optional write that failed (`apply(optional=True)`)


@dataclass(frozen=True)
class ManagedKey:
    """One key buildbpf writes: its table path, name and value."""

    table: tuple[str, ...]
    key: str
    value: Any

    @property
    def dotted(self) -> str:
        return ".".join((*self.table, self.key))


@dataclass
class ConfigOutcome:
    """The result of applying managed keys to one file."""

    path: Path
    status: ConfigStatus
    text: str
    kept_user_values: list[str] = field(default_factory=list)
    why_not_written: str | None = None  # NOT_WRITTEN: the file system's reason


def managed_keys(
    targets: Sequence[str], rustflags: Mapping[str, Sequence[str]], build_std: Sequence[str]
) -> list[ManagedKey]:
    """The keys for an eBPF crate built for `targets` (triples, first is the default).

    Nothing machine-specific: users commit this file (PITFALLS #28). The linker's absolute
    path goes on buildbpf's command line; a plain `cargo build` finds `bpf-linker`, the bpf
    targets' default linker, on PATH.
    """
    keys = [
        ManagedKey(("build",), "target", targets[0]),
        ManagedKey(("unstable",), "build-std", list(build_std)),
    ]
    for triple in targets:
        keys.append(ManagedKey(("target", triple), "rustflags", list(rustflags[triple])))
    return keys


# Keys earlier versions wrote (marked as ours) and no longer manage: removed on the next write.
RETIRED = ("linker",)


def _table(doc: Container | Table, path: tuple[str, ...], file: Path) -> Container | Table | InlineTable:
    current: Container | Table | InlineTable = doc
    for depth, name in enumerate(path):
        if name not in current:
            # `[target.bpfel-unknown-none]` without an explicit `[target]` table
            table = tomlkit.table(is_super_table=depth < len(path) - 1)
            current.append(name, table)
        nxt = current[name]
        if not isinstance(nxt, (Table, Container, InlineTable)):
            dotted = ".".join(path[: depth + 1])
            raise ConfigError(
                f"{file}: `{dotted}` is not a table (buildbpf writes `{'.'.join(path)}` there)",
                fix=f"make `{dotted}` a table in {file}, or remove it",
            )
        current = nxt
    return current


def _is_ours(item: Item) -> bool:
    """A key buildbpf wrote: its comment is exactly `# buildbpf` (a comment of the user's that
    mentions buildbpf, `# buildbpf overrides this`, is the user's)."""
    comment = item.trivia.comment if hasattr(item, "trivia") else ""
    return (comment or "").lstrip("#").strip() == MARKER


def _parse(text: str, path: Path) -> tomlkit.TOMLDocument:
    try:
        return tomlkit.parse(text)
    except tomlkit.exceptions.ParseError as exc:
        raise ConfigError(
            f"{path}:{exc.line}: not valid TOML ({exc})",
            fix=f"fix or remove {path}; buildbpf did not touch it",
        ) from exc
    except RecursionError:
        raise ConfigError(
            f"{path}: arrays or tables nested too deeply to read",
            fix=f"fix or remove {path}; buildbpf did not touch it",
        ) from None


def _all_crlf(text: str) -> bool:
    return "\r\n" in text and text.count("\n") == text.count("\r\n")


def render(existing: str | None, keys: Sequence[ManagedKey], path: Path) -> tuple[str, list[str]]:
    """New file text and the user keys that were kept although they differ. Pure.

    The text comes back in the file's own conventions: a leading byte order mark stays, and
    a file whose lines all end in CRLF keeps CRLF, new lines included.
    """
    body = existing.removeprefix(BOM) if existing is not None else None
    crlf = body is not None and _all_crlf(body)
    if crlf:
        assert body is not None
        body = body.replace("\r\n", "\n")
    text, kept = _render(body, keys, path)
    if crlf:
        text = text.replace("\n", "\r\n")
    if existing is not None and existing.startswith(BOM):
        text = BOM + text
    return text, kept


def _render(existing: str | None, keys: Sequence[ManagedKey], path: Path) -> tuple[str, list[str]]:
    doc = _parse(existing, path) if existing is not None else tomlkit.document()
    kept = []
    target = doc.get("target")
    if isinstance(target, (Table, Container)):
        for triple in {k.table[1] for k in keys if k.table[0] == "target"}:
            table = target.get(triple)
            for name in RETIRED:
                if isinstance(table, (Table, Container)) and name in table and _is_ours(table[name]):
                    del table[name]
    for managed in keys:
        table = _table(doc, managed.table, path)
        if managed.key in table:
            item = table[managed.key]
            current = item.unwrap() if hasattr(item, "unwrap") else item
            if current == managed.value:
                continue
            if not _is_ours(item):
                kept.append(f"{managed.dotted} = {current!r} (buildbpf would use {managed.value!r})")
                continue
        new = tomlkit.item(managed.value)
        new.comment(MARKER)
        table[managed.key] = new
    return tomlkit.dumps(doc), kept


def apply(
    crate_dir: Path, keys: Sequence[ManagedKey], *, dry_run: bool = False, optional: bool = False
) -> ConfigOutcome:
    """Bring `<crate_dir>/.cargo/config.toml` up to date; write only when something changed.

    With `optional`, a write the file system refuses (a read-only checkout, an immutable file)
    is the outcome NOT_WRITTEN with its reason: a build passes every setting on cargo's command
    line, so the file only serves a plain `cargo build`. A file that cannot be read is an error.
    """
    path = crate_dir / ".cargo" / CONFIG_NAMES[0]
    existing = read_text(path, limit=CONFIG_LIMIT, what="cargo config") if exists(path) else None
    text, kept = render(existing, keys, path)
    if existing == text:
        return ConfigOutcome(path, ConfigStatus.UNCHANGED, text, kept)
    status = ConfigStatus.CREATED if existing is None else ConfigStatus.UPDATED
    if not dry_run:
        try:
            write_atomic(path, text)
        except FileSystemError as error:
            if not optional:
                raise
            return ConfigOutcome(path, ConfigStatus.NOT_WRITTEN, text, kept, error.message)
    return ConfigOutcome(path, status, text, kept)


def has_user_settings(crate_dir: Path) -> bool:
    """Whether the crate's cargo config has anything buildbpf did not write (or cannot be read)."""
    path, legacy = (crate_dir / ".cargo" / name for name in CONFIG_NAMES)
    if exists(legacy):
        return True
    if not exists(path):
        return False
    try:
        doc = _parse(read_text(path, limit=CONFIG_LIMIT).removeprefix(BOM), path)
    except ConfigError:
        return True  # apply() reports it; either way only a call from that directory is right

    def user_item(container: Container) -> bool:
        for _, item in container.body:
            if isinstance(item, Table):
                if user_item(item.value):
                    return True
            elif isinstance(item, Item) and not isinstance(item, Whitespace | Comment) and not _is_ours(item):
                return True
        return False

    return user_item(doc)


def config_chain(cwd: Path, home: Path | None = None) -> list[Path]:
    """The cargo configuration files cargo reads for a call in `cwd`, first one first: each
    directory's `.cargo/config.toml` (then the legacy `config`) up to `/`, then cargo's home."""
    home = _fs.cargo_home() if home is None else home
    configs = [d / ".cargo" / name for d in (cwd, *cwd.parents) for name in CONFIG_NAMES]
    return [*configs, *(home / name for name in CONFIG_NAMES)]


@dataclass(frozen=True)
class ConfigFlags:
    """rustflags one cargo config gives the bpf target: the file, the key, the flags."""

    path: Path
    key: str  # `target.bpfel-unknown-none.rustflags` or `build.rustflags`
    flags: tuple[str, ...]


def _flags_of(value: object) -> tuple[str, ...]:
    if isinstance(value, Item) and _is_ours(value):
        return ()  # what buildbpf wrote: the same flags it passes
    if isinstance(value, str):
        return tuple(value.split())  # cargo splits a string on whitespace
    if isinstance(value, list):
        return tuple(str(v) for v in value)
    return ()


def project_bpf_rustflags(cwd: Path, home: Path, triple: str, *, build_below: Path) -> list[ConfigFlags]:
    """The rustflags the project's cargo configs give `triple`, in the order cargo joins them.

    As cargo reads them for a call in `cwd`: every `[target.TRIPLE] rustflags` in the chain,
    lowest precedence (cargo's home) first; only when there is none, `[build] rustflags`.
    Those count only from configs in directories below `build_below` (the workspace root):
    the eBPF crate's own; the root's and the home's are the host's (PITFALLS #11).
    """
    by_target: list[ConfigFlags] = []
    by_build: list[ConfigFlags] = []
    for path in reversed(config_chain(cwd, home)):
        if not _fs.is_file(path):
            continue
        try:
            data = _parse(read_text(path, limit=CONFIG_LIMIT).removeprefix(BOM), path)
        except ConfigError:
            continue  # reported where it is applied
        target = data.get("target")
        section = target.get(triple) if isinstance(target, Mapping) else None
        if flags := _flags_of(section.get("rustflags") if isinstance(section, Mapping) else None):
            by_target.append(ConfigFlags(path, f"target.{triple}.rustflags", flags))
        build = data.get("build")
        own = build_below in path.parent.parent.parents
        if own and (flags := _flags_of(build.get("rustflags") if isinstance(build, Mapping) else None)):
            by_build.append(ConfigFlags(path, "build.rustflags", flags))
    return by_target or by_build
