"""Options more than one command takes, declared once."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

ToolchainOpt = Annotated[
    str | None,
    typer.Option(
        "--toolchain",
        help="rustup toolchain to build with (e.g. nightly-2026-05-01); "
        "default: env BUILDBPF_TOOLCHAIN, rust-toolchain.toml, then auto-detect.",
        show_default=False,
    ),
]
LinkerOpt = Annotated[
    str | None,
    typer.Option(
        "--bpf-linker",
        help="path to bpf-linker, used or refused, never replaced (default: env BUILDBPF_BPF_LINKER, "
        "bpf_linker in buildbpf.toml, then buildbpf's own, PATH, ~/.cargo/bin).",
        show_default=False,
    ),
]


class Color(enum.StrEnum):
    """When cargo (and buildbpf) colour their output, as cargo's `--color`."""

    AUTO = "auto"
    ALWAYS = "always"
    NEVER = "never"


def _set_color(ctx: typer.Context, value: Color | None) -> Color | None:
    """Apply `--color` before the command runs: every cargo buildbpf streams, and its own echo."""
    from buildbpf import terminal

    if value is not None:
        terminal.set_color(value.value)
        if value is not Color.AUTO:
            ctx.color = value is Color.ALWAYS
    return value


ColorOpt = Annotated[
    Color,
    typer.Option(
        "--color",
        callback=_set_color,
        help="When to colour output, as cargo's --color: auto (when stderr is a terminal, which "
        "also gets cargo's progress bar), always or never.",
    ),
]
