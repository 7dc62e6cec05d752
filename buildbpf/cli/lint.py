"""`buildbpf lint`: options in, `build.lint.lint`, one line per linted part out."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import ByteOrderOpt, LinkerOpt, PackagesOpt, ToolchainOpt


# typer declares each option in the signature; the body is short
def lint(
    clippy_args: Annotated[
        list[str] | None,
        typer.Argument(help="Passed to clippy after `--`, e.g. -- -D warnings.", show_default=False),
    ] = None,
    package: PackagesOpt = None,
    release: Annotated[bool, typer.Option("--release", help="Lint userspace in release mode.")] = False,
    target: ByteOrderOpt = None,
    toolchain: ToolchainOpt = None,
    bpf_linker: LinkerOpt = None,
) -> None:
    """Run clippy on the eBPF crates (bpf target, build-std and flags as `build` uses), then
    on the userspace crates.

    The clippy is the one beside the rustc buildbpf builds with. Userspace embeds the verified
    objects: run `buildbpf build` once first. Fails (exit 4) when clippy reports an error;
    `buildbpf lint -- -D warnings` makes warnings errors.
    """
    from buildbpf.build import context as loading
    from buildbpf.build.lint import lint as run_lint
    from buildbpf.build.precedence import cli_overrides
    from buildbpf.build.steps import BuildOptions

    overrides = cli_overrides(targets=target, toolchain=toolchain, bpf_linker=bpf_linker)
    context = loading.load(Path.cwd(), overrides, os.environ)
    options = BuildOptions(release=release, packages=tuple(package or ()))
    run_lint(context, os.environ, options=options, clippy_args=tuple(clippy_args or ()),
             passed=lambda call: typer.echo(f"clippy passed: {call.what}"))  # fmt: skip
