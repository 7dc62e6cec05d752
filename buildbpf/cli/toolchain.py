"""`buildbpf doctor` and `buildbpf setup`: diagnose the toolchain, install what is missing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import Color, ColorOpt, LinkerOpt, ToolchainOpt

_COLOURS = {"ok": "green", "warn": "yellow", "fail": "red"}


def doctor(
    toolchain: ToolchainOpt = None,
    color: ColorOpt = Color.AUTO,  # applied by its callback
    bpf_linker: LinkerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the toolchain, bpf-linker and kernel; exit 0 when an eBPF build can work here.

    Then each attach mechanism (kprobe, tracepoint, fentry, lsm, xdp, ...) this kernel lacks or has.
    """
    from buildbpf.build.precedence import pin_from
    from buildbpf.toolchain.doctor import diagnose

    report = diagnose(pin_from(toolchain, Path.cwd()), bpf_linker)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        width = max(len(c.name) for c in report.checks)
        for check in report.checks:
            status = typer.style(f"{check.status:<4}", fg=_COLOURS[check.status], bold=True)
            typer.echo(f"  {status}  {check.name:<{width}}  {check.detail}")
            if check.fix and check.status != "ok":
                typer.echo(f"  {'':<4}  {'':<{width}}  fix: {check.fix}")
        verdict = "eBPF builds can work here" if report.can_build else "eBPF builds cannot work here yet"
        typer.echo(f"\n{verdict}.")
    raise typer.Exit(0 if report.can_build else 3)


def setup(
    toolchain: ToolchainOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be installed.")] = False,
    bpf_linker_version: Annotated[
        str | None,
        typer.Option("--bpf-linker-version", help="bpf-linker version to install.", show_default=False),
    ] = None,
) -> None:
    """Install what is missing: rust-src (rustup), bpf-linker matching rustc's LLVM.

    bpf-linker goes to $BUILDBPF_HOME (default ~/.local/share/buildbpf), where buildbpf
    finds it. Distro packages it cannot install itself are printed as exact commands. One
    setup runs at a time: another one waits for it, then finds nothing left to do.
    """
    from buildbpf.build.precedence import pin_from
    from buildbpf.toolchain import provision

    pin = pin_from(toolchain, Path.cwd())
    version = bpf_linker_version or provision.BPF_LINKER_VERSION
    if dry_run:
        plan = provision.plan_setup(pin, version)
        for item in plan.present:
            typer.echo(f"present: {item}")
        for step in plan.steps:
            typer.echo(f"would {'ask you to ' if step.manual else ''}{step.render()}")
        if plan.nothing_to_do:
            typer.echo("nothing to do: the toolchain is complete")
        return
    def waiting(lock: Path) -> None:
        typer.echo(f"buildbpf: waiting for another `buildbpf setup` to finish (it holds {lock})", err=True)

    outcome = provision.setup(pin, bpf_linker_version=version, on_wait=waiting)
    for item in outcome.present:
        typer.echo(f"present: {item}")
    if not outcome.done and not outcome.manual:
        typer.echo("nothing to do: the toolchain is complete")
    for step in outcome.done:
        typer.echo(f"done: {step.what}")
    if outcome.manual:
        for step in outcome.manual:
            typer.echo(f"needs you: {step.render()}")
        raise typer.Exit(6)
