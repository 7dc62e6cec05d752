"""`buildbpf init`: render `templates/` into a new Aya workspace, safely.

Everything is rendered in memory first (sandboxed jinja2, file paths included), then
written all at once or not at all (a new directory appears by renaming a complete temporary
sibling). An existing non-empty directory is refused unless `--force`, which replaces only
files an earlier init generated and nobody edited since (`.buildbpf-init.toml` records their
hashes); anyone else's file is replaced only with `--overwrite`, which keeps it as FILE.orig.
Nothing is ever deleted. Option values reach the Rust templates only through escaping filters.
"""

from __future__ import annotations

import contextlib
import difflib
import errno
import functools
import hashlib
import os
import re
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf.errors import ConfigError, FileSystemError
from buildbpf.objects.sections import SECTION_NAMES
from buildbpf.scaffold.program_types import PROGRAM_TYPES, ProgramType, syscall_symbol

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

# Versions that build together with the toolchain buildbpf resolves (rustc 1.96 here).
VERSIONS = {"aya": "=0.14.0", "aya_ebpf": "=0.2.1", "anyhow": "1", "libc": "0.2"}

RUST_KEYWORDS = frozenset(
    [
        "as",
        "async",
        "await",
        "break",
        "const",
        "continue",
        "crate",
        "dyn",
        "else",
        "enum",
        "extern",
        "false",
        "fn",
        "for",
        "if",
        "impl",
        "in",
        "let",
        "loop",
        "match",
        "mod",
        "move",
        "mut",
        "pub",
        "ref",
        "return",
        "self",
        "Self",
        "static",
        "struct",
        "super",
        "trait",
        "true",
        "type",
        "unsafe",
        "use",
        "where",
        "while",
        "abstract",
        "become",
        "box",
        "do",
        "final",
        "gen",
        "macro",
        "override",
        "priv",
        "try",
        "typeof",
        "unsized",
        "virtual",
        "yield",
    ]
)
RESERVED = frozenset(
    {"test", "core", "std", "alloc", "proc_macro", "proc-macro", "build", "deps", "examples"}
)
# fullmatch, not `^...$`: `$` also matches before a trailing newline ("probe\n")
_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_-]{0,63}")


def templates_root() -> Path:
    """`templates/` of a checkout, or the copy shipped in the wheel."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_templates", package.parent / "templates"):
        if (candidate / "workspace").is_dir():
            return candidate
    raise ConfigError("buildbpf's templates are missing from this installation", fix="reinstall buildbpf")


def validate_name(name: str) -> str:
    """A cargo package name that is safe as a path component and a Rust identifier."""
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        raise ConfigError(f"project name {name!r} must not contain path separators or `..`",
                          fix="pass a plain name with --name")  # fmt: skip
    if not _NAME.fullmatch(name):
        raise ConfigError(
            f"project name {name!r} is not a valid crate name: it must start with a letter and "
            "contain only letters, digits, `-` and `_` (at most 64 characters)",
            fix="pass --name with a valid crate name, e.g. --name my-probe",
        )
    ident = name.replace("-", "_")
    if ident in RUST_KEYWORDS or name in RESERVED or ident in RESERVED:
        raise ConfigError(f"project name {name!r} is a Rust keyword or reserved name",
                          fix=f"pick another name, e.g. {name}-probe")  # fmt: skip
    return name


# The generated workspace's own crates (`NAME`, `NAME-common`, `NAME-ebpf`): none may share a
# name with a package of its dependency graph, or `cargo build -p NAME` is ambiguous.
_OWN_CRATES = ("{name}", "{name}-common", "{name}-ebpf")
_PLACEHOLDER = "buildbpf-placeholder"
LOCKED_NAMES = "locked-dependencies.txt"


def _normal(crate: str) -> str:
    # cargo and rustc treat `-` and `_` alike in a crate's library name: `aya_ebpf` clashes too
    return crate.replace("-", "_")


@functools.cache
def dependency_names() -> frozenset[str]:
    """Every package name the generated workspace depends on, directly or not.

    Direct ones come from the templates' Cargo.toml files; the rest from
    `templates/locked-dependencies.txt`, the package names of a generated workspace's
    Cargo.lock (an integration test keeps it true).
    """
    import tomllib

    names: set[str] = set()
    placeholder = PROGRAM_TYPES["xdp"]
    for rendered in render(_PLACEHOLDER, placeholder, placeholder.options):
        if rendered.relative.name == "Cargo.toml":
            names |= _registry_dependencies(tomllib.loads(rendered.text))
    for line in (templates_root() / LOCKED_NAMES).read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            names.add(line.strip())
    return frozenset(names)


def _registry_dependencies(manifest: Mapping[str, Any]) -> set[str]:
    """Dependency names of a Cargo.toml that are not path dependencies (the workspace's own)."""
    tables = [manifest.get("workspace", {}), manifest, *manifest.get("target", {}).values()]
    names = set()
    for table in tables:
        for kind in ("dependencies", "dev-dependencies", "build-dependencies"):
            for key, spec in table.get(kind, {}).items():
                if isinstance(spec, dict) and "path" in spec:
                    continue
                package = spec.get("package", key) if isinstance(spec, dict) else key
                names.add(package)
    return names


def refuse_dependency_names(name: str) -> None:
    """A ConfigError when one of the crates `init` would make is named like a dependency."""
    taken = {_normal(dependency): dependency for dependency in dependency_names()}
    for pattern in _OWN_CRATES:
        crate = pattern.format(name=name)
        if _normal(crate) in taken:
            raise ConfigError(
                f"project name {name!r} makes a crate `{crate}`, and the generated workspace already "
                f"depends on a package `{taken[_normal(crate)]}`: cargo could not tell them apart "
                "(`cargo build -p` fails with \"specification is ambiguous\")",
                fix=f"pick another name, e.g. --name {name}-probe",
            )


def program_type(name: str) -> ProgramType:
    """The program type, or a ConfigError with a did-you-mean."""
    key = name.replace("-", "_")
    if key in PROGRAM_TYPES:
        return PROGRAM_TYPES[key]
    guess = difflib.get_close_matches(key, list(PROGRAM_TYPES), n=1)
    hint = f"; did you mean `{guess[0]}`?" if guess else ""
    raise ConfigError(f"unknown program type {name!r}{hint}",
                      fix=f"use one of: {', '.join(PROGRAM_TYPES)}")  # fmt: skip


def options_for(kind: ProgramType, given: Mapping[str, str]) -> dict[str, str]:
    """The type's defaults overridden by `-o key=value`; unknown keys and values that break
    the option's rule are errors (the values are pasted into Rust source)."""
    for key, value in given.items():
        if key not in kind.options:
            guess = difflib.get_close_matches(key, list(kind.options), n=1)
            known = ", ".join(kind.options) or "none"
            hint = f"; did you mean `{guess[0]}`?" if guess else ""
            raise ConfigError(f"program type {kind.name} has no option {key!r}{hint} (options: {known})",
                              fix=f"see `buildbpf init --list` for the options of {kind.name}")  # fmt: skip
        rule = kind.rules[key]
        if not rule.accepts(value):
            shown = repr(value) if len(value) <= 80 else repr(value[:80]) + "..."
            raise ConfigError(
                f"-o {key}={shown} is not {rule.what} ({kind.name} option `{key}`): {rule.rule}",
                fix=f"pass -o {key}=VALUE with {rule.what}, e.g. -o {key}={kind.options[key]}",
            )
    return {**kind.options, **given}


_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def rust_string(value: str) -> str:
    """`value` as a Rust string literal, quotes included (the templates' `rust_str` filter).

    The option rules already keep quotes, backslashes and control characters out of most
    values; this is the second line of defence, and what makes a path with `"` in it work.
    """
    out = ['"']
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0xD800 <= ord(char) <= 0xDFFF:  # a lone surrogate: no Rust string can hold it
            raise ConfigError(f"{value!r} holds a character that is not valid Unicode",
                              fix="pass a value without undecodable bytes")  # fmt: skip
        elif not char.isprintable():
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def rust_comment(value: str) -> str:
    """`value` made safe inside a `//` comment: a line break would end it (the `rust_comment` filter)."""
    return "".join(char if char.isprintable() else f"\\u{{{ord(char):x}}}" for char in value)


def rust_identifier(value: str) -> str:
    """`value` unchanged if it is a plain Rust identifier, else an error (the `rust_ident` filter)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) or value in RUST_KEYWORDS:
        raise ConfigError(f"{value!r} is not a Rust identifier", fix="pass a plain name")
    return value


def shell_word(value: str) -> str:
    """`value` quoted for a shell command line shown in the README (the `sh` filter)."""
    import shlex

    return shlex.quote(rust_comment(value))


# Section names aya-ebpf's macros use: a function with one of these names collides with
# its own section symbol at link time ("symbol 'classifier' is already defined").
_SECTION_NAMES = frozenset(PROGRAM_TYPES) | SECTION_NAMES


def program_name(project: str) -> str:
    """The eBPF function's name: the project's identifier, unless it collides with a section."""
    ident = project.replace("-", "_")
    return f"{ident}_prog" if ident in _SECTION_NAMES else ident


@dataclass(frozen=True)
class Rendered:
    """One file of the new workspace."""

    relative: Path
    text: str


@functools.cache
def _environment(root: Path) -> SandboxedEnvironment:
    """The jinja2 environment of `root` (cached: the templates are compiled once per process)."""
    from jinja2 import FileSystemLoader, StrictUndefined
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        loader=FileSystemLoader(str(root)),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        autoescape=False,  # Rust and TOML, not HTML: values go through the filters below
    )
    env.filters.update(
        rust_str=rust_string, rust_comment=rust_comment, rust_ident=rust_identifier, sh=shell_word
    )
    return env


def render(
    name: str, kind: ProgramType, options: Mapping[str, str], arch: str | None = None
) -> list[Rendered]:
    """Render every template (paths too) in memory; pure apart from reading templates."""
    root = templates_root()
    env = _environment(root)
    context: dict[str, Any] = {
        "name": name,
        "ident": name.replace("-", "_"),
        "program_type": kind.name,
        "program": program_name(name),
        "options": dict(options),
        "versions": VERSIONS,
        "syscall_symbol": lambda syscall: syscall_symbol(syscall, arch),
    }
    files = []
    base = root / "workspace"
    for template in sorted(p for p in base.rglob("*") if p.is_file()):
        relative_template = template.relative_to(base).as_posix()
        target = env.from_string(relative_template).render(context).removesuffix(".j2")
        candidate = Path(target)
        if candidate.is_absolute() or ".." in candidate.parts:
            raise ConfigError(f"template path {relative_template} renders outside the project: {target}")
        text = env.get_template(f"workspace/{relative_template}").render(context)
        files.append(Rendered(candidate, text))
    return files


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


def plan_init(
    destination: Path, files: list[Rendered], *, force: bool, overwrite: bool = False
) -> list[Planned]:
    """Check the destination and decide each file's action.

    A non-empty directory needs `force`; even then only files an earlier init generated (and
    nobody edited since, by the record's hashes) are replaced. Any other existing file with
    other content is a conflict: refused, or with `overwrite` replaced and kept as FILE.orig.
    Nothing is ever deleted.
    """
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
    record = _read_record(destination) if destination.is_dir() else {}
    planned: list[Planned] = []
    conflicts: list[Path] = []
    taken = {destination / f.relative for f in files}
    new_record = dict(record)
    for rendered in files:
        path = destination / rendered.relative
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ConfigError(f"{path} exists and is not a regular file", fix="move it away first")
        data = rendered.text.encode()
        relative = rendered.relative.as_posix()
        new_record[relative] = _sha256(data)
        if not path.exists():
            planned.append(Planned(path, "create", rendered.text))
            continue
        try:
            existing = path.read_bytes()
        except OSError as exc:
            raise FileSystemError.from_os(exc, "read", path) from exc
        if existing == data:
            planned.append(Planned(path, "unchanged", rendered.text))
        elif record.get(relative) == _sha256(existing):
            planned.append(Planned(path, "update", rendered.text))
        elif overwrite:
            backup = _free_backup(path, taken)
            taken.add(backup)
            planned.append(Planned(path, "replace", rendered.text, backup))
        else:
            conflicts.append(path)
    if conflicts:
        listed = ", ".join(str(p.relative_to(destination)) for p in conflicts)
        raise ConfigError(
            f"init would replace {len(conflicts)} file(s) in {destination} that it did not generate "
            f"or that were edited since: {listed}",
            fix="move them away, or pass --overwrite to replace them (each is kept as FILE.orig)",
        )
    record_path = destination / RECORD
    record_text = _render_record(new_record)
    if record_path.exists():
        same = record_path.read_text() == record_text
        planned.append(Planned(record_path, "unchanged" if same else "update", record_text))
    else:
        planned.append(Planned(record_path, "create", record_text))
    return planned


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (it must not exist) holding `data`. Tests replace it to simulate a full disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def _write_error(exc: OSError, path: Path | str | None) -> FileSystemError:
    where = path or exc.filename  # the file the user asked for, not a temporary name
    name = errno.errorcode.get(exc.errno or 0, "")
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return FileSystemError(
        f"cannot write {where}: {exc.strerror} ({name}); init wrote nothing and left nothing behind",
        fix="free some space (or quota) and run init again" if full
        else "check the permissions of the destination, or choose another directory",
    )  # fmt: skip


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _make_parents(directory: Path, created: list[Path]) -> None:
    """mkdir -p that remembers what it created, so a failure can take it back."""
    missing = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        parent.mkdir()
        created.append(parent)


def _remove_created(created: list[Path]) -> None:
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


def _write_new_tree(destination: Path, planned: list[Planned]) -> None:
    """A new directory: write everything into a temporary sibling, then rename it into place,
    so the workspace appears whole or not at all (issue #11, item 5)."""
    created: list[Path] = []
    staging: Path | None = None
    current: Path | str | None = None  # the error's own file name while making parents
    try:
        _make_parents(destination.parent, created)
        current = destination
        staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.init-", dir=destination.parent))
        for item in planned:
            target = staging / item.path.relative_to(destination)
            current = item.path
            _make_parents(target.parent, [])
            _write_file(target, item.text.encode(), 0o644)
        current = destination
        staging.chmod(0o777 & ~_umask())
        staging.rename(destination)
    except OSError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise _write_error(exc, current) from exc
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise


def _write_into(destination: Path, planned: list[Planned]) -> None:
    """An existing directory: stage every new file (and every backup) as a temporary file
    beside its target first; only when all are written are they renamed into place. A failure
    while staging (a full disk) removes the staged files and created directories: the
    directory is as it was."""
    created: list[Path] = []
    staged: list[tuple[Path, Path]] = []  # (temporary, final)
    current: Path | None = None
    try:
        for item in planned:
            if not item.writes:
                continue
            current = item.path
            _make_parents(item.path.parent, created)
            if item.backup is not None:
                copy = _temporary_beside(item.backup)
                staged.append((copy, item.backup))
                shutil.copy2(item.path, copy)
            mode = item.path.stat().st_mode & 0o777 if item.path.exists() else 0o644
            temporary = _temporary_beside(item.path)
            staged.append((temporary, item.path))
            _write_file(temporary, item.text.encode(), mode)
    except BaseException as exc:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        _remove_created(created)
        if isinstance(exc, OSError):
            raise _write_error(exc, current) from exc
        raise
    # Renames only from here: they need no space. Backups first, so a file is never replaced
    # before its backup exists; the record last, so it never claims a file not yet written.
    for done, (temporary, final) in enumerate(staged):
        try:
            temporary.replace(final)
        except OSError as exc:
            for left, _ in staged[done:]:
                with contextlib.suppress(OSError):
                    left.unlink()
            moved = ", ".join(str(f) for _, f in staged[:done]) or "none"
            raise FileSystemError(
                f"cannot rename {temporary} to {final}: {exc.strerror}; already in place: {moved}",
                fix="check the destination's permissions and run init again",
            ) from exc


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden name in `path`'s directory (never an existing file)."""
    return path.with_name(f".{path.name}.init-{os.urandom(4).hex()}")


def write(destination: Path, planned: list[Planned]) -> None:
    """Write the planned files: all of them, or (on a failure such as a full disk) none."""
    if not any(item.writes for item in planned):
        return
    if destination.exists() or destination.is_symlink():
        _write_into(destination, planned)
    else:
        _write_new_tree(destination, planned)


def init(
    destination: Path,
    *,
    name: str | None,
    kind_name: str,
    options: Mapping[str, str],
    force: bool = False,
    overwrite: bool = False,
    dry_run: bool = False,
) -> list[Planned]:
    """Validate, render, check the destination, then (unless dry_run) write."""
    project = validate_name(name if name is not None else destination.resolve().name)
    refuse_dependency_names(project)
    kind = program_type(kind_name)
    values = options_for(kind, options)
    planned = plan_init(destination, render(project, kind, values), force=force, overwrite=overwrite)
    if not dry_run:
        write(destination, planned)
    return planned
