"""Parse what rustc, cargo and bpf-linker say about themselves: versions, hosts, LLVM."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

from buildbpf.errors import ToolchainError

log = logging.getLogger("buildbpf")




# A rustup toolchain directory is `<channel>-<host triple>`; the triple starts
# with an arch and a vendor (`x86_64-unknown-`, `aarch64-apple-`).
_HOST_SUFFIX = re.compile(r"^[a-z][a-z0-9_]*-(unknown|apple|pc)-")
_LLVM_VERSION = re.compile(r"LLVM version:?\s*(\d+)\.(\d+)(?:\.(\d+))?")
_RELEASE = re.compile(r"^(\d+)\.(\d+)\.(\d+)(?:-(nightly|beta(?:\.\d+)?|dev))?$")
_LIBLLVM = re.compile(r"^libLLVM(?:\.so\.|-)(\d+)(?:\.(\d+))?")


@dataclass(frozen=True, order=True)
class Version:
    """A dotted version; missing parts are 0."""

    major: int
    minor: int = 0
    patch: int = 0

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}.{self.patch}"


@dataclass(frozen=True)
class RustcInfo:
    """What `rustc -vV` says about itself."""

    release: str
    version: Version
    channel: str
    commit_date: str | None
    host: str
    llvm: Version | None


@dataclass(frozen=True)
class CargoInfo:
    """What `cargo -V` says about itself."""

    version: Version
    channel: str
    commit_date: str | None


def parse_rustc_vv(text: str) -> RustcInfo:
    """Parse `rustc -vV` output (rustup, Debian "built from a source tarball", nightly)."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        if sep:
            fields[key.strip()] = value.strip()
    release = fields.get("release")
    if release is None:
        raise ToolchainError(
            "`rustc -vV` printed no `release:` line; this does not look like rustc",
            fix="set BUILDBPF_RUSTC to a real rustc",
        )
    match = _RELEASE.match(release)
    if match is None:
        raise ToolchainError(f"cannot read rustc release {release!r}")
    version = Version(int(match[1]), int(match[2]), int(match[3]))
    channel = (match[4] or "stable").split(".")[0]
    commit_date = fields.get("commit-date")
    llvm = None
    if (found := _LLVM_VERSION.search(text)) is not None:
        llvm = Version(int(found[1]), int(found[2]), int(found[3] or 0))
    return RustcInfo(
        release=release,
        version=version,
        channel=channel,
        commit_date=None if commit_date in (None, "unknown") else commit_date,
        host=fields.get("host", ""),
        llvm=llvm,
    )


def parse_cargo_version(text: str) -> CargoInfo:
    """Parse `cargo -V` (`cargo 1.96.0 (30a34c682 2026-05-25) (built from a source tarball)`)."""
    match = re.match(
        r"^cargo (\d+)\.(\d+)\.(\d+)(?:-(nightly|beta(?:\.\d+)?|dev))?"
        r"(?: \((?:\w+ )?(\d{4}-\d{2}-\d{2})\))?",
        text.strip(),
    )
    if match is None:
        raise ToolchainError(f"cannot read the cargo version from {text.strip()[:80]!r}")
    return CargoInfo(
        version=Version(int(match[1]), int(match[2]), int(match[3])),
        channel=(match[4] or "stable").split(".")[0],
        commit_date=match[5],
    )


def parse_bpf_linker_version(text: str) -> Version:
    """Parse `bpf-linker --version` (`bpf-linker 0.13.0`)."""
    match = re.search(r"bpf-linker (\d+)\.(\d+)\.(\d+)", text)
    if match is None:
        raise ToolchainError(f"cannot read the bpf-linker version from {text.strip()[:80]!r}")
    return Version(int(match[1]), int(match[2]), int(match[3]))


def parse_llvm_version(text: str) -> Version | None:
    """Find `LLVM version X.Y.Z` in a tool's output (`Debian LLVM version 22.1.8`)."""
    match = _LLVM_VERSION.search(text)
    if match is None:
        return None
    return Version(int(match[1]), int(match[2]), int(match[3] or 0))


def llvm_from_needed(needed: Iterable[str]) -> Version | None:
    """The LLVM a binary links dynamically, from its DT_NEEDED (`libLLVM.so.22.1`)."""
    for name in needed:
        if (match := _LIBLLVM.match(name)) is not None:
            return Version(int(match[1]), int(match[2] or 0))
    return None


