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
        bool, typer.Option("--full-log", help="With --load or --kernel: the whole verifier log.")
    ] = False,
    color: ColorOpt = Color.AUTO,  # applied by its callback (cargo builds the --load helper)
    attach_targets: Annotated[
        bool,
        typer.Option(
            "--attach-targets/--no-attach-targets",
            help="Check attach targets, and that this kernel has each program's attach mechanism.",
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
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            help="Also verify every program on these kernels under QEMU: 5.10, 6.1, 6.12, ..., lts, "
            "latest (comma-separated or repeated; `buildbpf kernels` lists them).",
            show_default=False,
        ),
    ] = None,
    kernel_image: Annotated[
        list[Path] | None,
        typer.Option(
            "--kernel-image", help="A bzImage of your own to verify on (repeatable).", show_default=False
        ),
    ] = None,
    junit: Annotated[
        Path | None,
        typer.Option(
            "--junit",
            help="Also write the results as JUnit XML to this file: a test case per program and "
            "kernel (this kernel's gate and --load, then each --kernel).",
            show_default=False,
        ),
    ] = None,
    strict_layout: Annotated[
        bool,
        typer.Option(
            "--strict-layout",
            help="A kernel struct the programs read at offsets a kernel lays out otherwise fails the "
            "check (exit 5); default: a warning.",
        ),
    ] = False,
) -> None:
    """Inspect eBPF objects: programs, maps, license, BTF lint, undefined symbols, size, sha256.

    With --load, every program is loaded into the running kernel's verifier (with Aya, so
    Aya's legacy maps work) and unloaded again; nothing stays in the kernel. Exit 5 when
    any object has a problem, 7 when the kernel cannot be asked (no privilege). With --kernel:
    a matrix of programs x kernels; exit 5 when a cell fails, 9 when a kernel gave no verdict.

    Kernel structs the programs read through bindings (Rust eBPF has no CO-RE) are compared,
    field by field, with this kernel's BTF and, with --kernel, with each kernel's.
    """
    from buildbpf.build import pipeline
    from buildbpf.cli.kernels import show
    from buildbpf.cli.render import print_report
    from buildbpf.objects.check import parse_attach_targets

    request = pipeline.CheckRequest(
        cwd=Path.cwd(),
        environ=os.environ,
        objects=tuple(objects or ()),
        btf_required=btf_required,
        attach_targets=attach_targets,
        load=load,
        extra_targets=parse_attach_targets(attach_target or []) if load or kernel else {},
        kernels=tuple(kernel or ()),
        kernel_images=tuple(kernel_image or ()),
        full_log=full_log,
        strict_layout=strict_layout,
    )
    result = pipeline.check(request)
    reports = result.reports
    if not as_json:
        for report in reports:
            print_report(report, full_log)
    elif result.on_kernels is None:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    if os.environ.get("GITHUB_ACTIONS") == "true":  # shown at the source line on the pull request
        from buildbpf.cli.render import github_annotations

        for line in github_annotations(reports, result.on_kernels):
            print(line, flush=True)
    if junit is not None:
        from buildbpf._fs import write_atomic
        from buildbpf.cli.junit import document

        write_atomic(junit, document(reports, result.on_kernels))
    code = 0 if result.on_kernels is None else show(result.on_kernels, reports, as_json, full_log)
    if code or not all(r.ok for r in reports):
        raise typer.Exit(code or 5)

