"""`buildbpf init`: scaffold a new Aya workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def _list_types(value: bool) -> None:
    """`--list`: print the program types and stop (before PATH is required)."""
    if not value:
        return
    from buildbpf.scaffold.program_types import load_program_types

    for kind in load_program_types().values():
        described = (f"{key}={default}: {kind.rules[key].what}" for key, default in kind.options.items())
        opts = ", ".join(described) or "no options"
        needs = f"  [needs {kind.needs}]" if kind.needs else ""
        typer.echo(f"{kind.name:<15} {kind.summary} ({opts}){needs}")
    raise typer.Exit(0)


# typer declares each option in the signature; the body is short
def init(
    path: Annotated[Path, typer.Argument(help="Directory of the new workspace.", show_default=False)],
    name: Annotated[
        str | None,
        typer.Option("--name", help="Project name (default: the directory name).", show_default=False),
    ] = None,
    program_type: Annotated[
        str, typer.Option("--program-type", "-t", help="Program type (see --list).")
    ] = "xdp",
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Program option KEY=VALUE (repeatable; see --list). A value that breaks the option's "
            "rule (an interface name, a kernel function name, a path, ...) is refused.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty directory: add the generated files and update those an "
            "earlier init generated and nobody edited since. Never replaces or deletes your files: "
            "a file with other content is listed and init stops (exit 2).",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Like --force, and also replace files init did not generate (or that were edited), "
            "keeping each old one beside it as FILE.orig.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files; write nothing.")] = False,
    ci: Annotated[
        bool,
        typer.Option(
            "--ci",
            help="Add only the CI files (noxfile.py with the ebpf, lint, test and kernels sessions, "
            "and .github/workflows/ebpf.yml) to an existing workspace at PATH: replaces no file of yours "
            "(without --overwrite): lists any such file and writes nothing then (exit 2).",
        ),
    ] = False,
    list_types: Annotated[
        bool,
        typer.Option(
            "--list", callback=_list_types, is_eager=True, help="List program types and their options."
        ),
    ] = False,
) -> None:
    """Scaffold a new Aya workspace (eBPF, common and userspace crates) that buildbpf builds."""
    from buildbpf.errors import ConfigError
    from buildbpf.scaffold import init as scaffold

    del list_types  # handled by its callback
    given = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {item!r} is not KEY=VALUE", fix="e.g. -o iface=eth0")
        given[key.replace("-", "_")] = value
    planned = scaffold.run(
        path,
        name=name,
        kind_name=program_type,
        options=given,
        force=force,
        overwrite=overwrite,
        dry_run=dry_run,
        ci_only=ci,
    )
    for planned_file in planned:
        kept = f" (yours kept as {planned_file.backup})" if planned_file.backup else ""
        would = "would " if dry_run and planned_file.writes else ""
        typer.echo(f"{would}{planned_file.action}: {planned_file.path}{kept}")
    if not dry_run:
        import shlex

        step = "nox" if ci else "buildbpf build --release"
        typer.echo(f"\nnext: cd {shlex.quote(str(path))} && {step}")
