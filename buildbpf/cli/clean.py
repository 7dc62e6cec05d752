"""`buildbpf clean`: remove buildbpf's published objects and caches for this workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import TargetDirOpt, ToolchainOpt


def clean(
    all_: Annotated[
        bool, typer.Option("--all", help="Also run `cargo clean` (cargo's whole target dir).")
    ] = False,
    target_dir: TargetDirOpt = None,
    toolchain: ToolchainOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Remove what buildbpf made for this workspace: the verified objects
    (<target-dir>/buildbpf) and its replay records; --all adds `cargo clean`.

    Caches every workspace shares (tool probes, aya-build stand-ins, the verifier helper)
    stay, and so do the crates' .cargo/config.toml files.
    """
    from buildbpf._process import run_command
    from buildbpf.build import clean as cleaning
    from buildbpf.build.precedence import pin_from
    from buildbpf.cargo import metadata
    from buildbpf.toolchain.rust import resolve_rust

    cwd = Path.cwd()
    rust = resolve_rust(pin_from(toolchain, cwd))
    data = metadata.cargo_metadata(rust, cwd)
    outside = metadata.outside_metadata(rust, data)
    roots = [Path(d["workspace_root"]) for d in (data, *outside)]
    given = cwd / target_dir if target_dir is not None else None
    target_dirs = [given or Path(data["target_directory"]), *(Path(d["target_directory"]) for d in outside)]
    selection = cleaning.select(target_dirs, roots)
    calls = cleaning.cargo_clean_calls(rust.cargo, rust.cargo_env(), roots, given) if all_ else []
    if not dry_run:
        selection.remove()
    for path in selection.paths:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    for call in calls:
        if dry_run:
            typer.echo(f"would run: {call.shell_line()}")
        else:
            run_command(call)
    if not selection.paths and not calls:
        typer.echo("nothing to remove")
