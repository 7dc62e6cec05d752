"""Decide what `init` does with each file, before anything is written.

A non-empty directory is refused unless `--force`, which replaces only files an earlier init
generated and nobody edited since (`.buildbpf-init.toml` records their hashes); anyone
else's file is replaced only with `--overwrite`, which keeps it as FILE.orig. Nothing is
ever deleted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from buildbpf.errors import ConfigError, FileSystemError
from buildbpf.scaffold.render import Rendered

# What init generated, so that a later `init --force` can tell its own files (unchanged since)
# from the user's: sha256 of each file's content, by path relative to the workspace.
RECORD = ".buildbpf-init.toml"
_RECORD_HEADER = (
    "# Written by `buildbpf init`: the sha256 of each file it generated. `init --force` replaces\n"
    "# only those of them you have not edited; it never replaces your files without --overwrite.\n"
)


@dataclass(frozen=True)
class Planned:
    """What init will do with one file."""

    path: Path
    # create: new; update: a file an earlier init generated, unedited since; unchanged: the
    # same content already; replace: someone else's file, kept as `backup` (--overwrite)
    action: str
    text: str
    backup: Path | None = None

    @property
    def writes(self) -> bool:
        """Whether the file is written (anything but `unchanged`)."""
        return self.action != "unchanged"


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _read_record(destination: Path) -> dict[str, str]:
    """The record of an earlier init in `destination` ({} when there is none)."""
    import tomllib

    path = destination / RECORD
    if not path.exists() and not path.is_symlink():
        return {}
    broken = ConfigError(
        f"{path} is not a record `buildbpf init` wrote (a regular TOML file with a [files] table)",
        fix=f"delete {path}; `init --force` then treats every existing file as yours",
    )
    if path.is_symlink() or not path.is_file():
        raise broken
    try:
        files = tomllib.loads(path.read_text()).get("files", {})
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise broken from exc
    if not isinstance(files, dict) or not all(isinstance(v, str) for v in files.values()):
        raise broken
    return files


def _render_record(files: Mapping[str, str]) -> str:
    import tomlkit

    document = tomlkit.document()
    document.add("files", tomlkit.table())
    for relative in sorted(files):
        document["files"][relative] = files[relative]
    return _RECORD_HEADER + tomlkit.dumps(document)


def _free_backup(path: Path, taken: set[Path]) -> Path:
    """`path.orig`, or `path.orig.1`, ... : the first name that is neither a file nor planned."""
    candidate = path.with_name(path.name + ".orig")
    number = 0
    while candidate.exists() or candidate.is_symlink() or candidate in taken:
        number += 1
        candidate = path.with_name(f"{path.name}.orig.{number}")
    return candidate


def _check_destination(destination: Path, *, force: bool, overwrite: bool) -> None:
    """A directory (or nothing yet, under a directory), empty unless `force` or `overwrite`."""
    if (destination.exists() or destination.is_symlink()) and not destination.is_dir():
        raise ConfigError(f"{destination} exists and is not a directory", fix="choose another path")
    ancestor = next((p for p in destination.parents if p.exists() or p.is_symlink()), None)
    if ancestor is not None and not ancestor.is_dir():
        raise FileSystemError(f"cannot create the directory {destination}: {ancestor} is not a directory "
                              "(ENOTDIR)", fix="choose a path under a directory")  # fmt: skip
    try:
        non_empty = destination.is_dir() and any(destination.iterdir())
    except OSError as exc:
        raise FileSystemError.from_os(exc, "list", destination) from exc
    if non_empty and not (force or overwrite):
        raise ConfigError(
            f"{destination} is not empty; init will not mix a new workspace into existing files",
            fix="choose an empty or new directory, or pass --force to add the generated files to it "
            "(it replaces only files an earlier init generated and you did not edit; nothing is deleted)",
        )


def _plan_file(
    path: Path, text: str, recorded: str | None, *, overwrite: bool, taken: set[Path]
) -> Planned | None:
    """The action for one generated file; None when it is a conflict (someone else's file)."""
    if path.is_symlink() or (path.exists() and not path.is_file()):
        raise ConfigError(f"{path} exists and is not a regular file", fix="move it away first")
    if not path.exists():
        return Planned(path, "create", text)
    try:
        existing = path.read_bytes()
    except OSError as exc:
        raise FileSystemError.from_os(exc, "read", path) from exc
    if existing == text.encode():
        return Planned(path, "unchanged", text)
    if recorded == _sha256(existing):
        return Planned(path, "update", text)
    if overwrite:
        backup = _free_backup(path, taken)
        taken.add(backup)
        return Planned(path, "replace", text, backup)
    return None


def _plan_record(destination: Path, files: Mapping[str, str]) -> Planned:
    record_path = destination / RECORD
    record_text = _render_record(files)
    if not record_path.exists():
        return Planned(record_path, "create", record_text)
    same = record_path.read_text() == record_text
    return Planned(record_path, "unchanged" if same else "update", record_text)


def plan_init(
    destination: Path, files: list[Rendered], *, force: bool, overwrite: bool = False
) -> list[Planned]:
    """Check the destination and decide each file's action.

    A non-empty directory needs `force`; even then only files an earlier init generated (and
    nobody edited since, by the record's hashes) are replaced. Any other existing file with
    other content is a conflict: refused, or with `overwrite` replaced and kept as FILE.orig.
    Nothing is ever deleted.
    """
    _check_destination(destination, force=force, overwrite=overwrite)
    record = _read_record(destination) if destination.is_dir() else {}
    planned: list[Planned] = []
    conflicts: list[Path] = []
    taken = {destination / f.relative for f in files}
    new_record = dict(record)
    for rendered in files:
        relative = rendered.relative.as_posix()
        new_record[relative] = _sha256(rendered.text.encode())
        path = destination / rendered.relative
        item = _plan_file(path, rendered.text, record.get(relative), overwrite=overwrite, taken=taken)
        if item is None:
            conflicts.append(path)
        else:
            planned.append(item)
    if conflicts:
        listed = ", ".join(str(p.relative_to(destination)) for p in conflicts)
        raise ConfigError(
            f"init would replace {len(conflicts)} file(s) in {destination} that it did not generate "
            f"or that were edited since: {listed}",
            fix="move them away, or pass --overwrite to replace them (each is kept as FILE.orig)",
        )
    planned.append(_plan_record(destination, new_record))
    return planned
