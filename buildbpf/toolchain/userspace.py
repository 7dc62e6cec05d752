"""Which toolchain builds userspace: the one `cargo build` would pick at the workspace root.

Userspace needs no rust-src, so a `rust-toolchain.toml` pin eBPF cannot build with (no
rust-src) still builds userspace, as rustup's proxy would run it there. A toolchain the user
named for buildbpf (`--toolchain`, `BUILDBPF_TOOLCHAIN`, `toolchain` in buildbpf.toml,
`BUILDBPF_RUSTC`, `BUILDBPF_CARGO`) builds both sides.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

from buildbpf.toolchain.named import CARGO_VARIABLE, RUSTC_VARIABLE
from buildbpf.toolchain.pin import Pin, file_pin
from buildbpf.toolchain.rust import Candidate, RustToolchain, installed, toolchain_of


def userspace_rust(
    ebpf: RustToolchain,
    pin: Pin | None,
    root: Path,
    environ: Mapping[str, str],
    candidates: Sequence[Candidate] | None = None,
) -> tuple[RustToolchain, str | None]:
    """The toolchain userspace builds with, and why when it is not `ebpf`.

    `pin` is the workspace's pin as eBPF saw it; an explicit one (or a named rustc/cargo) is
    the user's choice for both sides. Otherwise the toolchain file rustup reads from `root`.
    """
    if (pin is not None and pin.explicit) or environ.get(RUSTC_VARIABLE) or environ.get(CARGO_VARIABLE):
        return ebpf, None
    if (pinned := file_pin(root)) is None:
        return ebpf, None
    found = installed(pinned.name, candidates)
    # not installed (rustup would try to install it): eBPF's warning said so; both use ebpf
    if found is None or found.cargo is None or found.rustc.resolve() == ebpf.rustc.resolve():
        return ebpf, None
    return toolchain_of(found), f"pinned by {pinned.origin}, as `cargo build` there would"


def sides_line(ebpf: RustToolchain, userspace: RustToolchain, why: str) -> str:
    """One line saying which toolchain builds which side, when they differ."""
    return (
        f"eBPF builds with {ebpf.describe()}; userspace with rustc {userspace.rustc_info.release} "
        f"from {userspace.source} ({why})"
    )
