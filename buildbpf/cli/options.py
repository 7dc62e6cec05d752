"""Options more than one command takes, declared once."""

from __future__ import annotations

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
