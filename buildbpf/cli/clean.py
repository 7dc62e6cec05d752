"""`buildbpf clean`: remove buildbpf's published objects and caches for this workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import TargetDirOpt, ToolchainOpt

ALL_HELP = (
    "Also run `cargo clean` on each target dir that cargo made and that holds nothing else "
    "(cargo deletes it whole)."
)


def clean(
    all_: Annotated[bool, typer.Option("--all", help=ALL_HELP)] = False,
    target_dir: TargetDirOpt = None,
    toolchain: ToolchainOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be removed; remove nothing.")
    ] = False,
) -> None:
    """Remove what buildbpf made for this workspace: the verified objects
    (<target-dir>/buildbpf) and its replay records; --all adds `cargo clean`.

    Only what buildbpf can prove it made goes: a folder without buildbpf's marker, or holding
    files buildbpf did not write, is listed and left. `--all` never cleans `/`, your home,
    the workspace or a folder holding it. Caches every workspace shares (tool probes,
    aya-build stand-ins, the verifier helper) stay, and so do the crates' .cargo/config.toml.
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
    places = [(Path(d["workspace_root"]), Path(d["target_directory"])) for d in (data, *outside)]
    if target_dir is not None:  # --target-dir: the workspace's only; outside crates keep theirs
        places[0] = (places[0][0], cwd / target_dir)
    roots = [root for root, _ in places]
    selection = cleaning.select([t for _, t in places], roots)
    calls, left = ([], []) if not all_ else cleaning.cargo_clean_calls(
        rust.cargo, rust.cargo_env(), places, home=cleaning.home())  # fmt: skip
    if not dry_run:
        selection.remove()
    for path in selection.paths:
        typer.echo(f"{'would remove' if dry_run else 'removed'} {path}")
    for kept in (*selection.left, *left):
        typer.echo(f"left {kept.path}: {kept.why}", err=True)
    for call in calls:
        if dry_run:
            typer.echo(f"would run: {call.shell_line()}")
        else:
            run_command(call)
    if not selection.paths and not calls:
        typer.echo("nothing to remove")
