"""Find and inspect bpf-linker: it must be built on the same LLVM major as rustc
(docs/pitfalls.md #1); a mismatch is an error before anything is built.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildbpf import _fs
from buildbpf._fs import (
    is_executable,
)
from buildbpf._process import probe
from buildbpf.errors import NamedToolError, ToolchainError
from buildbpf.toolchain import probe_cache
from buildbpf.toolchain.named import LINKER_VARIABLE, named_tool
from buildbpf.toolchain.versions import (
    Version,
    llvm_from_needed,
    parse_bpf_linker_version,
    parse_llvm_version,
)

log = logging.getLogger("buildbpf")

# --- bpf-linker ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BpfLinker:
    """A bpf-linker binary and the LLVM it was built on."""

    path: Path
    source: str
    version: Version | None
    llvm: Version | None

    def describe(self) -> str:
        llvm = f"LLVM {self.llvm}" if self.llvm else "LLVM unknown"
        return f"bpf-linker {self.version or '?'} ({llvm}) at {self.path}"


def _needed_libraries(path: Path) -> list[str]:
    from elftools.common.exceptions import ELFError
    from elftools.elf.dynamic import DynamicSection
    from elftools.elf.elffile import ELFFile

    try:
        with path.open("rb") as stream:
            elf = ELFFile(stream)
            return [
                str(tag.needed)  # type: ignore[attr-defined]
                for section in elf.iter_sections()
                if isinstance(section, DynamicSection)
                for tag in section.iter_tags()
                if tag.entry.d_tag == "DT_NEEDED"
            ]
    except (OSError, ELFError):
        return []


def inspect_linker(path: Path, source: str) -> BpfLinker:
    """Ask a bpf-linker for its version and for the LLVM it runs on (cached per binary)."""

    def ask() -> dict[str, str | None]:
        found = _ask_linker(path)
        return {"version": str(found[0]) if found[0] else None, "llvm": str(found[1]) if found[1] else None}

    answer = probe_cache.cached_probe(path, "bpf-linker", ask)

    def version_of(text: str | None) -> Version | None:
        parts = (text or "").split(".")
        if len(parts) != 3 or not all(p.isdigit() for p in parts):
            return None  # not probed, or a cache entry edited by hand
        return Version(int(parts[0]), int(parts[1]), int(parts[2]))

    return BpfLinker(
        path=path,
        source=source,
        version=version_of(answer.get("version")),
        llvm=version_of(answer.get("llvm")),
    )


def _ask_linker(path: Path) -> tuple[Version | None, Version | None]:
    version = None
    done = probe([path, "--version"])
    if done is not None and done.returncode == 0:
        try:
            version = parse_bpf_linker_version(done.stdout)
        except ToolchainError:
            version = None
    # LLVM's own `--version` option, passed through, names the exact LLVM that is
    # linked in (static or shared); the DT_NEEDED entry is the fallback.
    with tempfile.TemporaryDirectory(prefix="buildbpf-") as tmp:
        done = probe([path, "--llvm-args=--version", "-o", str(Path(tmp) / "out.o"), os.devnull])
    llvm = parse_llvm_version(done.stdout + done.stderr) if done is not None else None
    if llvm is None:
        llvm = llvm_from_needed(_needed_libraries(path))
    return version, llvm


def linker_candidates(llvm_major: int | None) -> Iterator[tuple[Path, str]]:
    """Where a bpf-linker nobody named may be, best first, each path once."""
    seen: set[Path] = set()
    places: list[tuple[Path, str]] = []
    if llvm_major is not None:
        places.append((_fs.managed_linker(llvm_major), "installed by buildbpf setup"))
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        if directory:
            places.append((Path(directory) / "bpf-linker", "PATH"))
    places.append((_fs.cargo_home() / "bin" / "bpf-linker", "cargo install"))
    for path, source in places:
        if not is_executable(path):
            continue
        real = path.resolve()
        if real in seen:
            continue
        seen.add(real)
        yield real, source


@dataclass(frozen=True)
class LinkerChoice:
    """The bpf-linker to use, or why there is none."""

    chosen: BpfLinker | None
    rejected: tuple[BpfLinker, ...]
    llvm_major: int | None
    named: bool = False  # the user named the one linker looked at

    def require(self) -> BpfLinker:
        """The chosen linker, or a ToolchainError that says exactly what is wrong."""
        if self.chosen is not None:
            return self.chosen
        if self.rejected:
            wrong = self.rejected[0]
            if wrong.llvm is None:
                why = (
                    f"{wrong.path} did not say which LLVM it is built on (`--llvm-args=--version`), "
                    f"so it cannot be trusted to read rustc's LLVM {self.llvm_major} bitcode"
                )
            else:
                why = (
                    f"{wrong.describe()} does not match rustc's LLVM {self.llvm_major}: rustc writes "
                    f"LLVM {self.llvm_major} bitcode that this linker cannot read "
                    "('Invalid record' or broken BTF)"
                )
            features = f"--features llvm-{self.llvm_major}"
            if self.named:
                raise NamedToolError(
                    f"{wrong.source}: {why}",
                    fix=f"point {wrong.source} at a bpf-linker built on LLVM {self.llvm_major} "
                    f"(`buildbpf setup` installs one, built with {features}), or unset it",
                )
            raise ToolchainError(why, fix=f"run `buildbpf setup` (installs bpf-linker with {features})")
        raise ToolchainError(
            "bpf-linker was not found (not on PATH, not in ~/.cargo/bin, not installed by buildbpf)",
            fix=f"run `buildbpf setup`, or set {LINKER_VARIABLE} to its path",
        )


def choose_linker(
    found: Sequence[BpfLinker], llvm_major: int | None, *, explicit: bool = False
) -> LinkerChoice:
    """Pick the first linker whose LLVM major matches rustc's; an explicit one must match."""
    rejected: list[BpfLinker] = []
    for index, linker in enumerate(found):
        matches = llvm_major is None or (linker.llvm is not None and linker.llvm.major == llvm_major)
        if matches:
            return LinkerChoice(linker, tuple(rejected), llvm_major, explicit)
        rejected.append(linker)
        if explicit and index == 0:
            break  # the user named this one: do not quietly use another
    return LinkerChoice(None, tuple(rejected), llvm_major, explicit)


def resolve_linker(
    llvm_major: int | None, explicit: str | None = None, origin: str = "--bpf-linker"
) -> LinkerChoice:
    """The bpf-linker for rustc's LLVM major.

    One the user named (`explicit`, named by `origin`; else `BUILDBPF_BPF_LINKER`) is used or
    refused with a NamedToolError (missing, not executable, another LLVM), never swapped for
    another; otherwise the first candidate whose LLVM matches is chosen.
    """
    if not explicit and (env := os.environ.get(LINKER_VARIABLE)):
        explicit, origin = env, LINKER_VARIABLE
    if explicit:
        path = named_tool(origin, explicit, "bpf-linker")
        return choose_linker([inspect_linker(path.resolve(), origin)], llvm_major, explicit=True)
    found: list[BpfLinker] = []
    for path, source in linker_candidates(llvm_major):
        found.append(inspect_linker(path, source))
        choice = choose_linker(found, llvm_major)
        if choice.chosen is not None:
            return choice
    return choose_linker(found, llvm_major)


