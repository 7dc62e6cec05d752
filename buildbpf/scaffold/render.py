"""Render `templates/workspace` (file paths included) into memory, through a sandboxed jinja2."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf import __version__
from buildbpf.errors import ConfigError
from buildbpf.scaffold.literals import rust_comment, rust_identifier, rust_string, shell_word
from buildbpf.scaffold.lockfile import LOCK_FILE, workspace_lock
from buildbpf.scaffold.names import program_name
from buildbpf.scaffold.program_types import ProgramType, load_program_types, syscall_symbol

if TYPE_CHECKING:
    from jinja2.sandbox import SandboxedEnvironment

# Versions that build together with the toolchain buildbpf resolves (rustc 1.96 here).
# aya-log 0.3.0 depends on aya ^0.14 and aya-log-ebpf 0.2.0 on aya-ebpf ^0.2: the pair for these.
VERSIONS = {
    "aya": "=0.14.0",
    "aya_ebpf": "=0.2.1",
    "aya_log": "=0.3.0",
    "aya_log_ebpf": "=0.2.0",
    "anyhow": "1",
    "libc": "0.2",
    "log": "0.4",
}


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


def render_workspace(
    name: str, kind: ProgramType, options: Mapping[str, str], arch: str | None = None
) -> list[Rendered]:
    """Render every template (paths too) of `kind`'s templates tree in memory; pure apart
    from reading templates."""
    root = kind.templates
    env = _environment(root)
    context: dict[str, Any] = {
        "name": name,
        "ident": name.replace("-", "_"),
        "program_type": kind.name,
        "program": program_name(name, load_program_types(root).values()),
        "options": dict(options),
        # the program's ELF section, for templates that write the entry point out by hand
        "section": kind.section.format_map(options),
        "versions": VERSIONS,
        "buildbpf_version": __version__,
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
    if (lock := workspace_lock(root, name)) is not None:  # the versions the templates were tested with
        files.append(Rendered(Path(LOCK_FILE), lock))
    return files
