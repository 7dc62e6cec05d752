"""`buildbpf run`: build as `buildbpf build` does, then start the userspace binary."""

from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import (
    FeaturesOpt,
    FrozenOpt,
    JobsOpt,
    LinkerOpt,
    LockedOpt,
    NoDefaultFeaturesOpt,
    OfflineOpt,
    TargetDirOpt,
    ToolchainOpt,
    cargo_options,
)


# typer declares each option in the signature; the body is short
def run(
    release: Annotated[
        bool, typer.Option("--release", help="Build and run userspace in release mode.")
    ] = False,
    package: Annotated[
        str | None,
        typer.Option("--package", "-p", help="The userspace crate to run (and build).", show_default=False),
    ] = None,
    bin_name: Annotated[
        str | None,
        typer.Option("--bin", help="The bin to run, when the crate has several.", show_default=False),
    ] = None,
    toolchain: ToolchainOpt = None,
    bpf_linker: LinkerOpt = None,
    features: FeaturesOpt = None,
    no_default_features: NoDefaultFeaturesOpt = False,
    target_dir: TargetDirOpt = None,
    locked: LockedOpt = False,
    offline: OfflineOpt = False,
    frozen: FrozenOpt = False,
    jobs: JobsOpt = None,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug output.")] = False,
    args: Annotated[
        list[str] | None,
        typer.Argument(help="Arguments for the program (after `--`).", show_default=False),
    ] = None,
) -> None:
    """Build (as `buildbpf build`), then run the userspace binary with ARGS.

    Loading eBPF needs privileges: the binary runs directly as root, otherwise through
    `sudo -E`; the `runner` setting (buildbpf.toml `runner = ["sudo", "-E"]`, or
    BUILDBPF_RUNNER) replaces that, `runner = []` runs it directly. The build's report goes
    to stderr; the program's output and exit code are its own.
    """
    from buildbpf import _process
    from buildbpf.build import context as loading
    from buildbpf.build import pipeline
    from buildbpf.build import run as running
    from buildbpf.build.precedence import cli_overrides, workspace_value
    from buildbpf.build.steps import BuildOptions
    from buildbpf.cli.render import build_lines, verbose_notice

    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    cwd = Path.cwd()
    cargo = cargo_options(features=features, no_default_features=no_default_features, target_dir=target_dir,
                          locked=locked, offline=offline, frozen=frozen, jobs=jobs)  # fmt: skip
    request = pipeline.BuildRequest(
        cwd=cwd,
        environ=os.environ,
        overrides=cli_overrides(toolchain=toolchain, bpf_linker=bpf_linker),
        options=BuildOptions(release=release, packages=(package,) if package else (), **cargo),
    )
    result = pipeline.run(request, notice=verbose_notice())
    _, name = running.choose_binary(result.context.workspace, request.options.packages, bin_name)
    for line in build_lines(result):
        typer.echo(line, err=True)
    rust = result.context.toolchain.rust
    host = rust.rustc_info.host
    triple = loading.userspace_triple(result.context.workspace.root, os.environ, host)
    workspace = result.context.workspace
    if request.options.target_dir is not None:
        workspace = dataclasses.replace(workspace, target_dir=request.options.target_dir)
    binary = running.binary_path(workspace, name, release=release, triple=triple, host=host)
    prefix, how = running.runner(workspace_value("runner", result.context.config, os.environ), os.geteuid())
    typer.echo(f"buildbpf: {how}", err=True)
    _process.exec_replace(running.run_command(prefix, binary, args or (), cwd))
