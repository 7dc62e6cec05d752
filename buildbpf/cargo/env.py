"""Host environment variables that must not reach an eBPF cargo (or the verifier helper's)."""

from __future__ import annotations

import re
from collections.abc import Mapping

# Host build settings that leak into an eBPF build and break it (docs/pitfalls.md,
# PITFALLS #4, #11): removed from the eBPF cargo's environment.
LEAKY_ENV = (
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "RUSTUP_TOOLCHAIN",
    "RUSTC",
    "RUSTDOCFLAGS",
)
_LEAKY_PATTERN = re.compile(r"^CARGO_TARGET_[A-Z0-9_]+_(LINKER|RUSTFLAGS|RUNNER)$")


def leaky_variables(environ: Mapping[str, str]) -> list[str]:
    """Variables present in `environ` that must not reach an eBPF cargo."""
    return sorted(k for k in environ if k in LEAKY_ENV or _LEAKY_PATTERN.match(k))
