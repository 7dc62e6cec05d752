"""`buildbpf check`: options in, `build.pipeline.check`, the reports out (human or JSON)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import Color, ColorOpt


# typer declares each option in the signature; the body is short
def check(
    objects: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Objects to inspect (default: every verified object of the workspace).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    btf_required: Annotated[
        bool | None,
        typer.Option(
            "--btf/--no-btf",
            help="Require .BTF and .BTF.ext, or not. Default: as each crate's settings say (btf) for "
            "the workspace's objects; not required of an object named here (missing BTF is a note).",
            show_default=False,
        ),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Also load every program into this kernel's verifier (root).")
    ] = False,
    full_log: Annotated[
        bool, typer.Option("--full-log", help="With --load: the whole verifier log.")
    ] = False,
    color: ColorOpt = Color.AUTO,  # applied by its callback (cargo builds the --load helper)
    attach_targets: Annotated[
        bool,
        typer.Option(
            "--attach-targets/--no-attach-targets", help="Check attach targets against this kernel."
        ),
    ] = True,
    attach_target: Annotated[
        list[str] | None,
        typer.Option(
            "--attach-target",
            help="FUNCTION=TARGET for --load, for programs whose section does not name it (repeatable).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Inspect eBPF objects: programs, maps, license, BTF lint, undefined symbols, size, sha256.

    With --load, every program is loaded into the running kernel's verifier (with Aya, so
    Aya's legacy maps work) and unloaded again; nothing stays in the kernel. Exit 5 when
    any object has a problem, 7 when the kernel cannot be asked (no privilege).
    """
    from buildbpf.build import pipeline
    from buildbpf.cli.render import print_report

    request = pipeline.CheckRequest(
        cwd=Path.cwd(),
        environ=os.environ,
        objects=tuple(objects or ()),
        btf_required=btf_required,
        attach_targets=attach_targets,
        load=load,
        extra_targets=_function_targets(attach_target or []) if load else {},
    )
    reports = pipeline.check(request)
    if as_json:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    else:
        for report in reports:
            print_report(report, full_log)
    if not all(r.ok for r in reports):
        raise typer.Exit(5)


def _function_targets(items: list[str]) -> dict[str, str]:
    """`--attach-target FUNCTION=TARGET` options as a mapping."""
    from buildbpf.errors import ConfigError

    extra = {}
    for item in items:
        function, sep, target = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--attach-target {item!r} is not FUNCTION=TARGET", fix="e.g. my_fentry=do_unlinkat"
            )
        extra[function] = target
    return extra
