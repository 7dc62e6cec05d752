"""`buildbpf build`: options in, `build.pipeline.run`, the result out (human or JSON)."""

from __future__ import annotations

import enum
import json
import logging
import os
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from buildbpf.cli.options import (
    ByteOrderOpt,
    Color,
    ColorOpt,
    FeaturesOpt,
    FrozenOpt,
    JobsOpt,
    LinkerOpt,
    LockedOpt,
    NoDefaultFeaturesOpt,
    OfflineOpt,
    PackagesOpt,
    TargetDirOpt,
    ToolchainOpt,
    cargo_options,
)

if TYPE_CHECKING:
    from buildbpf.build.layout import Published


class MessageFormat(enum.StrEnum):
    """How `build` reports its result."""

    HUMAN = "human"
    JSON = "json"


# typer declares each option in the signature; the body is short
def build(
    ctx: typer.Context,
    release: Annotated[bool, typer.Option("--release", help="Build userspace in release mode.")] = False,
    package: PackagesOpt = None,
    target: ByteOrderOpt = None,
    toolchain: ToolchainOpt = None,
    bpf_linker: LinkerOpt = None,
    color: ColorOpt = Color.AUTO,  # applied by its callback
    features: FeaturesOpt = None,
    no_default_features: NoDefaultFeaturesOpt = False,
    target_dir: TargetDirOpt = None,
    locked: LockedOpt = False,
    offline: OfflineOpt = False,
    frozen: FrozenOpt = False,
    jobs: JobsOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the commands and config changes; change nothing.")
    ] = False,
    print_plan: Annotated[
        bool, typer.Option("--print-plan", help="Print the plan as JSON and stop.")
    ] = False,
    message_format: Annotated[
        MessageFormat, typer.Option("--message-format", help="human, or json on stdout.")
    ] = MessageFormat.HUMAN,
    verbose: Annotated[
        bool,
        typer.Option("--verbose", "-v", help="Show debug output, the full cargo command lines and notices."),
    ] = False,
    run_check: Annotated[
        bool, typer.Option("--check", help="Run `buildbpf check` on the objects afterwards.")
    ] = False,
    load: Annotated[
        bool, typer.Option("--load", help="Run `buildbpf check --load` (kernel verifier, root) afterwards.")
    ] = False,
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            help="Verify every object on these kernels under QEMU afterwards (as `check --kernel`).",
            show_default=False,
        ),
    ] = None,
    watch: Annotated[
        bool, typer.Option("--watch", help="Build again after every change to the inputs (Ctrl-C stops).")
    ] = False,
) -> None:
    """Build the eBPF crates, verify every object, then build the userspace crates.

    Each eBPF crate is compiled for the bpf target and linked with bpf-linker; an object
    that is not loadable eBPF stops the build before userspace can embed it. Verified
    objects are copied to <target-dir>/buildbpf/<bpf-triple>/<bin>, and userspace is built
    with BUILDBPF_OBJECTS pointing there.

    eBPF crates are always built with release settings (opt-level 3, LTO, one codegen unit,
    panic=abort): debug eBPF does not pass the verifier. --release is for userspace.
    """
    from buildbpf.build import pipeline
    from buildbpf.build.precedence import cli_overrides
    from buildbpf.build.record import Invocation
    from buildbpf.build.steps import BuildOptions
    from buildbpf.cli.kernels import finish
    from buildbpf.cli.render import (
        build_json,
        build_lines,
        dry_run_lines,
        object_line,
        print_report,
        verbose_notice,
    )
    from buildbpf.terminal import duration

    invocation = ctx.obj if isinstance(ctx.obj, Invocation) else Invocation()
    handover = invocation.handover
    started = handover.started if handover is not None else time.monotonic()  # from the process start
    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    human = message_format is MessageFormat.HUMAN
    shown: list[str] = []  # object lines printed as each object was verified

    def verified(obj: Published) -> None:
        shown.append(object_line(obj))
        typer.echo(shown[-1])

    cargo = cargo_options(features=features, no_default_features=no_default_features, target_dir=target_dir,
                          locked=locked, offline=offline, frozen=frozen, jobs=jobs)  # fmt: skip
    request = pipeline.BuildRequest(
        cwd=Path.cwd(),
        environ=os.environ,
        overrides=cli_overrides(targets=target, toolchain=toolchain, bpf_linker=bpf_linker),
        options=BuildOptions(release=release, packages=tuple(package or ()), **cargo),
        dry_run=dry_run,
        print_plan=print_plan,
        check=run_check,
        load=load,
        kernels=tuple(kernel or ()),
        handover=handover,
    )
    if watch:
        from buildbpf.cli.watch import watch_builds

        watch_builds(request)
        return
    result = pipeline.run(
        request, notice=verbose_notice() if human else None, on_object=verified if human else None
    )
    if print_plan:
        print(json.dumps(result.plan.as_json(), indent=2))
        return
    if dry_run:
        for line in dry_run_lines(result):
            typer.echo(line)
        return
    lines = build_lines(result)
    output = "".join(f"{line}\n" for line in lines) if human else build_json(result)
    typer.echo(output if not human else "".join(f"{line}\n" for line in lines[len(shown) :]), nl=False)
    if human:
        for report in result.reports:
            print_report(report)
    code = finish(result.on_kernels, human)
    typer.echo(f"buildbpf: finished in {duration(time.monotonic() - started)}", err=True)
    if code or not result.ok:
        raise typer.Exit(code or 5)
    # a clean no-op: the next identical build may replay it
    pipeline.remember(invocation.recorder, result, output)
