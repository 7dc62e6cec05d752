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
    fix: Annotated[
        bool, typer.Option("--fix", help="Apply clippy's suggestions (as `cargo clippy --fix`).")
    ] = False,
    allow_dirty: Annotated[
        bool, typer.Option("--allow-dirty", help="With --fix: also when files have uncommitted changes.")
    ] = False,
    allow_staged: Annotated[
        bool, typer.Option("--allow-staged", help="With --fix: also when files have staged changes.")
    ] = False,
    allow_no_vcs: Annotated[
        bool, typer.Option("--allow-no-vcs", help="With --fix: also outside version control.")
    ] = False,
) -> None:
    """Run clippy on the eBPF crates (bpf target, build-std and flags as `build` uses), then
    on the userspace crates.

    The clippy is the one beside the rustc buildbpf builds with. Userspace embeds the verified
    objects: run `buildbpf build` once first. Fails (exit 4) when clippy reports an error;
    `buildbpf lint -- -D warnings` makes warnings errors, `buildbpf lint --fix` applies
    clippy's suggestions (to eBPF crates too, which a plain `cargo clippy --fix` cannot build).
    """
    from buildbpf.build import context as loading
    from buildbpf.build.lint import lint as run_lint
    from buildbpf.build.precedence import cli_overrides
    from buildbpf.build.steps import BuildOptions
    from buildbpf.errors import ConfigError

    allowed = {"--allow-dirty": allow_dirty, "--allow-staged": allow_staged, "--allow-no-vcs": allow_no_vcs}
    flags = [flag for flag, given in allowed.items() if given]
    if flags and not fix:
        raise ConfigError(f"{flags[0]} only applies with --fix", fix=f"buildbpf lint --fix {flags[0]}")
    overrides = cli_overrides(targets=target, toolchain=toolchain, bpf_linker=bpf_linker)
    context = loading.load(Path.cwd(), overrides, os.environ)
    options = BuildOptions(release=release, packages=tuple(package or ()))
    run_lint(context, os.environ, options=options, clippy_args=tuple(clippy_args or ()),
             fix=("--fix", *flags) if fix else (),
             passed=lambda call: typer.echo(f"clippy passed: {call.what}"))  # fmt: skip
