"""`buildbpf init`: render `templates/` into a new Aya workspace, safely.

Everything is rendered in memory first (sandboxed jinja2, file paths included), then
written all at once or not at all. An existing non-empty directory is refused unless
`--force`; nothing is ever deleted. Option values reach the Rust templates only through
escaping filters.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from buildbpf.scaffold import dependencies
from buildbpf.scaffold.names import validate_name
from buildbpf.scaffold.plan import Planned, plan_init
from buildbpf.scaffold.program_types import find_program_type, options_for
from buildbpf.scaffold.render import render_workspace
from buildbpf.scaffold.write import write_workspace

# what `init --ci` adds to an existing workspace: nox sessions and the workflow that runs them
CI_FILES = ("noxfile.py", ".github/workflows/ebpf.yml")


def run(
    destination: Path,
    *,
    name: str | None,
    kind_name: str,
    options: Mapping[str, str],
    force: bool = False,
    overwrite: bool = False,
    dry_run: bool = False,
    templates: Path | None = None,
    ci_only: bool = False,
) -> list[Planned]:
    """Validate, render, check the destination, then (unless dry_run) write. `templates`:
    another templates tree than buildbpf's own (its program types included); `ci_only`: only
    the CI files (`CI_FILES`), into an existing workspace, never replacing a file there."""
    if ci_only:  # the CI files name no crate: any project's directory will do
        name, force = name or "workspace", True
    project = validate_name(name if name is not None else destination.resolve().name)
    dependencies.refuse_dependency_names(project)
    kind = find_program_type(kind_name, templates)
    values = options_for(kind, options)
    files = render_workspace(project, kind, values)
    if ci_only:
        files = [f for f in files if f.relative.as_posix() in CI_FILES]
    planned = plan_init(destination, files, force=force, overwrite=overwrite)
    if not dry_run:
        write_workspace(destination, planned)
    return planned
