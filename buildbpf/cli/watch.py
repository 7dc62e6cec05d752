"""`buildbpf watch` and `buildbpf build --watch`: build, then rebuild on every change."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from buildbpf.cli.options import LinkerOpt, PackagesOpt, ToolchainOpt

if TYPE_CHECKING:
    from buildbpf.build.pipeline import BuildRequest
    from buildbpf.build.watch import Watched

log = logging.getLogger("buildbpf")


def watch_builds(request: BuildRequest) -> None:
    """Build, then rebuild after each change to the workspace's inputs, one build at a time,
    until Ctrl-C or SIGTERM (exit 0). A failed build is reported and the watch goes on."""
    from buildbpf.build import context as loading
    from buildbpf.build import pipeline, record
    from buildbpf.build import watch as watching
    from buildbpf.cli.render import build_lines, print_report, verbose_notice
    from buildbpf.errors import BuildbpfError, Interrupted, render

    def what_to_watch(context: loading.Context) -> Watched:
        roots = [context.workspace.root, *context.cargo_roots]
        crate_dirs = [c.directory for c in context.workspace.crates]
        return watching.watched(record.replay_inputs(context, request.cwd), roots, crate_dirs)

    def build_once() -> Watched | None:
        try:
            result = pipeline.run(request, notice=verbose_notice())
        except Interrupted:
            raise
        except BuildbpfError as error:
            render(error)
            try:  # a compile error: the workspace itself still loads, and tells what to watch
                return what_to_watch(loading.load(request.cwd, request.overrides, request.environ))
            except BuildbpfError:
                return None
        for line in build_lines(result):
            typer.echo(line)
        for report in result.reports:
            print_report(report)
        return what_to_watch(result.context)

    try:
        watching.loop(build_once, request.cwd, notice=lambda line: typer.echo(line, err=True))
    except (KeyboardInterrupt, Interrupted):
        typer.echo("buildbpf: stopped watching", err=True)


def watch(
    release: Annotated[bool, typer.Option("--release", help="Build userspace in release mode.")] = False,
    package: PackagesOpt = None,
    toolchain: ToolchainOpt = None,
    bpf_linker: LinkerOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug output.")] = False,
) -> None:
    """Build, then build again after every change to the workspace's inputs (`build --watch`).

    Watched: the crates' src/ and build.rs, the manifests, Cargo.lock, buildbpf.toml, cargo
    configs and toolchain files of the workspace. Changes are debounced, builds never overlap,
    a failed build is reported and the watch goes on; Ctrl-C (or SIGTERM) stops (exit 0).
    """
    import os

    from buildbpf.build import pipeline
    from buildbpf.build.precedence import cli_overrides
    from buildbpf.build.steps import BuildOptions

    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    watch_builds(
        pipeline.BuildRequest(
            cwd=Path.cwd(),
            environ=os.environ,
            overrides=cli_overrides(toolchain=toolchain, bpf_linker=bpf_linker),
            options=BuildOptions(release=release, packages=tuple(package or ())),
        )
    )
