"""Options more than one command takes, declared once."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated, Any

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
PackagesOpt = Annotated[
    list[str] | None,
    typer.Option("--package", "-p", help="Only these crates (repeatable).", show_default=False),
]
ByteOrderOpt = Annotated[
    str | None,
    typer.Option("--target", help="eBPF byte order: bpfel, bpfeb or all.", show_default=False),
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


# cargo's own flags (`build`, `run`, `watch`), passed where they belong (BuildOptions.cargo_flags)
FeaturesOpt = Annotated[
    list[str] | None,
    typer.Option("--features", "-F", help="Userspace features (comma- or space-separated, repeatable); "
                 "eBPF crates take theirs from buildbpf.toml.", show_default=False),
]  # fmt: skip
NoDefaultFeaturesOpt = Annotated[
    bool, typer.Option("--no-default-features", help="Userspace without its default features.")
]
def _target_dir(raw: str) -> Path:
    # `--target-dir "$UNSET"` would be the current directory: builds into the sources, and a
    # `clean --all` that runs `cargo clean` there removes them; cargo refuses an empty one too
    if not raw.strip():
        raise typer.BadParameter("an empty path names no directory (cargo refuses one too)")
    return Path(raw)


TargetDirOpt = Annotated[
    Path | None,
    typer.Option("--target-dir", help="cargo's target directory (the verified objects go under it too).",
                 show_default=False, parser=_target_dir),
]  # fmt: skip
LockedOpt = Annotated[bool, typer.Option("--locked", help="Every cargo call: Cargo.lock must not change.")]
OfflineOpt = Annotated[bool, typer.Option("--offline", help="Every cargo call: no network.")]
FrozenOpt = Annotated[bool, typer.Option("--frozen", help="Every cargo call: --locked and --offline.")]
JobsOpt = Annotated[
    int | None,
    typer.Option("--jobs", "-j", min=1, help="Parallel jobs of every cargo call.", show_default=False),
]


def cargo_options(
    *,
    features: list[str] | None,
    no_default_features: bool,
    target_dir: Path | None,
    locked: bool,
    offline: bool,
    frozen: bool,
    jobs: int | None,
) -> dict[str, Any]:
    """The cargo flags as `BuildOptions` fields (`--features "a b" -F c` is a, b, c; a relative
    `--target-dir` is taken from the current directory, as cargo does)."""
    names = tuple(f for given in features or () for f in given.replace(",", " ").split())
    return {
        "features": names,
        "no_default_features": no_default_features,
        "target_dir": Path.cwd() / target_dir if target_dir is not None else None,
        "locked": locked,
        "offline": offline,
        "frozen": frozen,
        "jobs": jobs,
    }
