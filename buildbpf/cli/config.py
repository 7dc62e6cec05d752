"""`buildbpf config` and `buildbpf schema`: the effective settings, and the config file's schema."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated

import typer

from buildbpf.cli.options import ToolchainOpt


def config(
    toolchain: ToolchainOpt = None,
    target: Annotated[str | None, typer.Option("--target", help="As for build.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print the effective settings of every crate and where each value came from."""
    from buildbpf.build.context import load
    from buildbpf.build.precedence import cli_overrides
    from buildbpf.cli.render import config_data, config_lines

    context = load(Path.cwd(), cli_overrides(targets=target, toolchain=toolchain), os.environ)
    data = config_data(context, os.environ)
    if as_json:
        print(json.dumps(data, indent=2))
        return
    for line in config_lines(data):
        typer.echo(line)


def schema() -> None:
    """Print the JSON schema of buildbpf.toml."""
    from buildbpf.build import settings

    print(json.dumps(settings.schema(), indent=2))
