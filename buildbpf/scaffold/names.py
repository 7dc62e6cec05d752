"""Names `buildbpf init` gives things: the project (a cargo package name) and the eBPF function."""

from __future__ import annotations

import re
from collections.abc import Collection
from typing import TYPE_CHECKING

from buildbpf.errors import ConfigError
from buildbpf.objects.sections import SECTION_NAMES

if TYPE_CHECKING:
    from buildbpf.scaffold.program_types import ProgramType

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



def section_names(types: Collection[ProgramType]) -> frozenset[str]:
    """Names an eBPF function must not take: a function named like a section collides with its
    section symbol at link time ("symbol 'classifier' is already defined"). Every section kind
    Aya knows (`objects.sections`), each type's name, and its `section` when that is plain."""
    plain = {kind.section for kind in types if "/" not in kind.section}
    return SECTION_NAMES | {kind.name for kind in types} | plain


def program_name(project: str, types: Collection[ProgramType]) -> str:
    """The eBPF function's name: the project's identifier, unless it collides with a section."""
    ident = project.replace("-", "_")
    return f"{ident}_prog" if ident in section_names(types) else ident
