"""`buildbpf init`: render `templates/` into a new Aya workspace, safely.

Everything is rendered in memory first (sandboxed jinja2, file paths included), then
written; an existing non-empty directory is refused unless `--force`, and even then only
the files the template generates are (re)written -- nothing is ever deleted.
"""

from __future__ import annotations

import difflib
import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf.cargo_config import write_atomic
from buildbpf.errors import ConfigError
from buildbpf.programs import PROGRAM_TYPES, ProgramType, syscall_symbol

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
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_-]{0,63}$")


def templates_root() -> Path:
    """`templates/` of a checkout, or the copy shipped in the wheel."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "_templates", here.parent / "templates"):
        if (candidate / "workspace").is_dir():
            return candidate
    raise ConfigError("buildbpf's templates are missing from this installation", fix="reinstall buildbpf")


def validate_name(name: str) -> str:
    """A cargo package name that is safe as a path component and a Rust identifier."""
    if "/" in name or "\\" in name or name in (".", "..") or ".." in name:
        raise ConfigError(f"project name {name!r} must not contain path separators or `..`",
                          fix="pass a plain name with --name")  # fmt: skip
    if not _NAME.match(name):
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
_SECTION_NAMES = frozenset(PROGRAM_TYPES) | {"socket", "sockops", "sk_skb", "tc", "cgroup", "maps", "license"}


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


@dataclass(frozen=True)
class Planned:
    """What init will do with one file."""

    path: Path
    action: str  # "create" or "overwrite"
    text: str


def plan_init(destination: Path, files: list[Rendered], *, force: bool) -> list[Planned]:
    """Check the destination; refuse a non-empty one unless `force` (which never deletes)."""
    if destination.exists() and not destination.is_dir():
        raise ConfigError(f"{destination} exists and is not a directory", fix="choose another path")
    if destination.is_dir() and any(destination.iterdir()) and not force:
        raise ConfigError(
            f"{destination} is not empty; init will not mix a new workspace into existing files",
            fix="choose an empty or new directory, or pass --force to write the generated files "
            "into it (other files are left alone, none is deleted)",
        )
    planned = []
    for rendered in files:
        path = destination / rendered.relative
        if path.is_symlink() or (path.exists() and not path.is_file()):
            raise ConfigError(f"{path} exists and is not a regular file", fix="move it away first")
        planned.append(Planned(path, "overwrite" if path.exists() else "create", rendered.text))
    return planned


def write(planned: list[Planned]) -> None:
    """Write every planned file atomically."""
    for item in planned:
        write_atomic(item.path, item.text)


def init(
    destination: Path,
    *,
    name: str | None,
    kind_name: str,
    options: Mapping[str, str],
    force: bool = False,
    dry_run: bool = False,
) -> list[Planned]:
    """Validate, render, check the destination, then (unless dry_run) write."""
    project = validate_name(name if name is not None else destination.resolve().name)
    refuse_dependency_names(project)
    kind = program_type(kind_name)
    values = options_for(kind, options)
    planned = plan_init(destination, render(project, kind, values), force=force)
    if not dry_run:
        write(planned)
    return planned
