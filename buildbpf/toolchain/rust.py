"""Find the rustc/cargo pair that builds eBPF, and the toolchain pin in force.

Preference order (first usable wins):

1. a pinned rustup toolchain (CLI, config, or the crate's `rust-toolchain.toml`);
2. a rustup `nightly*` toolchain that has rust-src;
3. any other rustc whose sysroot has rust-src (Debian's `rustc-web` + `rust-web-src`,
   a stable rustup toolchain), used with `RUSTC_BOOTSTRAP=1`.

rustup toolchains are read from `$RUSTUP_HOME/toolchains` and called by absolute
path, so a rustup proxy earlier in PATH, or an inherited `RUSTUP_TOOLCHAIN`,
cannot change the choice.
"""

from __future__ import annotations

import enum
import logging
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from buildbpf import _fs
from buildbpf._fs import is_dir, is_executable, is_file
from buildbpf._process import exited, probe
from buildbpf.errors import NamedToolError, ToolchainError
from buildbpf.toolchain import probe_cache
from buildbpf.toolchain.named import CARGO_VARIABLE, RUSTC_VARIABLE, named_tool
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.versions import _HOST_SUFFIX, RustcInfo, parse_rustc_vv

log = logging.getLogger("buildbpf")


RUST_SRC_MARKER = Path("lib/rustlib/src/rust/library/Cargo.lock")
BPF_TARGETS = ("bpfel-unknown-none", "bpfeb-unknown-none")


class Mode(enum.StrEnum):
    """How nightly-only cargo features (`-Z build-std`) are enabled."""

    NIGHTLY = "nightly"
    BOOTSTRAP = "bootstrap"  # a stable rustc with RUSTC_BOOTSTRAP=1


@dataclass(frozen=True)
class Candidate:
    """A rustc that might build eBPF: where it is and whether its sysroot has rust-src."""

    source: str  # "rustup toolchain nightly-x86_64-unknown-linux-gnu", "PATH /usr/bin/rustc"
    rustc: Path
    cargo: Path | None
    sysroot: Path
    rustup_name: str | None = None

    @property
    def has_rust_src(self) -> bool:
        return is_file(self.sysroot / RUST_SRC_MARKER)

    @property
    def is_nightly_name(self) -> bool:
        return self.rustup_name is not None and self.rustup_name.startswith("nightly")


def rustup_toolchains(home: Path | None = None) -> list[Candidate]:
    """Installed rustup toolchains, read from disk (no rustup process, no proxy)."""
    root = (home or _fs.rustup_home()) / "toolchains"
    try:
        entries = sorted(p for p in root.iterdir() if is_dir(p))
    except OSError:
        return []
    found = []
    for directory in entries:
        rustc = directory / "bin" / "rustc"
        if not is_file(rustc):
            continue
        cargo = directory / "bin" / "cargo"
        found.append(
            Candidate(
                source=f"rustup toolchain {directory.name}",
                rustc=rustc,
                cargo=cargo if is_file(cargo) else None,
                sysroot=directory,
                rustup_name=directory.name,
            )
        )
    return found


def _is_rustup_proxy(path: Path) -> bool:
    return path.resolve().name in ("rustup", "rustup-init")


# Looked at even when PATH lacks them (a service's or sudo's short PATH); labelled as such.
SYSTEM_BIN_DIRS = (Path("/usr/bin"),)


def path_rustcs(path_env: str | None = None, extra: Sequence[Path] | None = None) -> list[Candidate]:
    """Every real (non-proxy) rustc on PATH, plus well-known system locations (`SYSTEM_BIN_DIRS`)."""
    extra = SYSTEM_BIN_DIRS if extra is None else extra
    dirs = [
        Path(d)
        for d in (path_env if path_env is not None else os.environ.get("PATH", "")).split(os.pathsep)
        if d
    ]
    seen: set[Path] = set()
    found = []
    on_path = set(dirs)
    for directory in [*dirs, *extra]:
        rustc = directory / "rustc"
        if not is_executable(rustc) or _is_rustup_proxy(rustc):
            continue
        real = rustc.resolve()
        if real in seen:
            continue
        seen.add(real)
        cargo = directory / "cargo"
        if not is_file(cargo) or _is_rustup_proxy(cargo):
            cargo = real.parent / "cargo"
        found.append(
            Candidate(
                # say "PATH" only for a directory that is on PATH: /usr/bin is looked at anyway
                source=f"PATH {rustc}" if directory in on_path else f"{rustc} (not on PATH)",
                rustc=real,
                cargo=cargo if is_file(cargo) else None,
                sysroot=real.parent.parent,
            )
        )
    return found


def _matches_pin(candidate: Candidate, pin: str) -> bool:
    name = candidate.rustup_name
    if name is None:
        return False
    if name == pin:
        return True
    return name.startswith(pin + "-") and _HOST_SUFFIX.match(name[len(pin) + 1 :]) is not None


def _unusable_pin(pin: Pin, pinned: Sequence[Candidate]) -> None:
    """A pin whose toolchain cannot build eBPF: an error when explicit, else one warning line."""
    if pin.explicit:
        if not pinned:
            raise ToolchainError(
                f"toolchain {pin.name} (pinned by {pin.origin}) is not installed",
                fix=f"rustup toolchain install {pin.name} --component rust-src",
            )
        if not pinned[0].has_rust_src:
            raise ToolchainError(
                f"toolchain {pin.name} (pinned by {pin.origin}) has no rust-src, "
                "which -Z build-std=core needs",
                fix=f"rustup component add rust-src --toolchain {pin.name}",
            )
        raise ToolchainError(f"toolchain {pin.name} has no cargo in {pinned[0].sysroot / 'bin'}")
    # a rust-toolchain.toml is a preference written for rustup's proxy, which would also
    # install its `components`; buildbpf runs toolchains by path, so a pin it cannot build
    # eBPF with falls back to the usual order, said in one line (README: Existing projects)
    if not pinned:
        why = "which is not installed here"
        fix = f"rustup toolchain install {pin.name} --component rust-src"
    elif not pinned[0].has_rust_src:
        asked = " (its `components` asks for it; rustup adds it only when run through its proxy)"
        why = "whose rust-src (needed by -Z build-std=core) is not installed" + (
            asked if "rust-src" in pin.components else ""
        )
        fix = f"rustup component add rust-src --toolchain {pin.name}"
    else:
        why = "which has no cargo"
        fix = f"rustup component add cargo --toolchain {pin.name}"
    log.warning("%s pins %s, %s; eBPF builds with the usual preference order (to use it: %s)",
                pin.origin, pin.name, why, fix)  # fmt: skip


def choose(candidates: Sequence[Candidate], pin: Pin | None = None) -> Candidate:
    """Pick the rustc to build with; pure apart from checking rust-src on disk."""
    if pin is not None:
        pinned = [c for c in candidates if _matches_pin(c, pin.name)]
        if pinned and pinned[0].has_rust_src and pinned[0].cargo is not None:
            return pinned[0]
        _unusable_pin(pin, pinned)
    usable = [c for c in candidates if c.has_rust_src and c.cargo is not None]
    nightly = [c for c in usable if c.is_nightly_name]
    # plain `nightly-<host>` first, then dated nightlies newest first
    nightly.sort(key=lambda c: (c.rustup_name != f"nightly-{_host_of(c)}", _neg(c.rustup_name)))
    others = [c for c in usable if c.rustup_name is None]
    rest = [c for c in usable if c.rustup_name is not None and not c.is_nightly_name]
    for group in (nightly, others, rest):
        if group:
            return group[0]
    if candidates:
        listed = ", ".join(c.source for c in candidates)
        raise ToolchainError(
            f"no Rust toolchain with rust-src was found (looked at: {listed}); "
            "eBPF targets have no prebuilt core, so -Z build-std=core needs the library sources",
            fix="rustup toolchain install nightly --component rust-src "
            "(or on Debian: apt-get install rustc-web cargo-web rust-web-src)",
        )
    raise ToolchainError(
        "no rustc was found (not on PATH, not in rustup)",
        fix="install Rust: rustup toolchain install nightly --component rust-src "
        "(or on Debian: apt-get install rustc-web cargo-web rust-web-src)",
    )


def _host_of(candidate: Candidate) -> str:
    name = candidate.rustup_name or ""
    match = re.search(r"([a-z][a-z0-9_]*-(?:unknown|apple|pc)-.*)$", name)
    return match[1] if match else ""


def _neg(name: str | None) -> tuple[int, ...]:
    """Sort key putting newer dated names first."""
    digits = re.findall(r"\d+", name or "")
    return tuple(-int(d) for d in digits)


@dataclass(frozen=True)
class RustToolchain:
    """The rustc/cargo pair buildbpf builds eBPF with."""

    source: str
    mode: Mode
    cargo: Path
    rustc: Path
    sysroot: Path
    rustc_info: RustcInfo
    rustup_name: str | None = None
    named_by: str | None = None  # BUILDBPF_RUSTC / BUILDBPF_CARGO when the user chose the rustc

    @property
    def rust_src(self) -> Path:
        return self.sysroot / RUST_SRC_MARKER.parent

    @property
    def llvm_major(self) -> int | None:
        return self.rustc_info.llvm.major if self.rustc_info.llvm else None

    def describe(self) -> str:
        how = "nightly" if self.mode is Mode.NIGHTLY else "stable + RUSTC_BOOTSTRAP=1"
        return f"rustc {self.rustc_info.release} ({how}) from {self.source}"

    def cargo_env(self) -> dict[str, str]:
        """Variables every eBPF cargo call gets, so cargo uses exactly this rustc."""
        env = {"RUSTC": str(self.rustc)}
        if self.mode is Mode.BOOTSTRAP:
            env["RUSTC_BOOTSTRAP"] = "1"
        if self.rustup_name is not None:
            env["RUSTUP_TOOLCHAIN"] = self.rustup_name
        return env

    def bootstrap_notice(self) -> str | None:
        """The one visible line said when nightly features come from RUSTC_BOOTSTRAP."""
        if self.mode is not Mode.BOOTSTRAP:
            return None
        why = (
            f"{self.named_by} names it"
            if self.named_by is not None
            else "its sysroot has rust-src and no nightly toolchain with rust-src was found"
        )
        return (
            f"using {self.rustc} ({self.rustc_info.release}, stable) with RUSTC_BOOTSTRAP=1 "
            f"for -Z build-std: {why}"
        )


def _beside(tool: Path, name: str) -> Path | None:
    """The program `name` in the directory of `tool` (as named, then as resolved), not a proxy."""
    for directory in dict.fromkeys([tool.parent, tool.resolve().parent]):
        found = directory / name
        if is_executable(found) and not _is_rustup_proxy(found):
            return found
    return None


def _named_candidate(rustc: Path, cargo: Path, source: str, origin: str) -> Candidate:
    """A rustc/cargo the user chose by variable, checked as `choose` checks the ones it finds."""
    real = rustc.resolve()
    candidate = Candidate(source, real, cargo, real.parent.parent)
    if not candidate.has_rust_src:
        toolchains = _fs.rustup_home() / "toolchains"
        fix = (
            f"rustup component add rust-src --toolchain {candidate.sysroot.name}"
            if candidate.sysroot.parent == toolchains
            else "install that toolchain's library sources (Debian: apt-get install rust-web-src)"
        )
        raise NamedToolError(
            f"{origin}: {real} has no rust-src in its sysroot {candidate.sysroot}, "
            "which -Z build-std=core needs (eBPF targets have no prebuilt core)",
            fix=f"{fix}, or unset {origin}",
        )
    return candidate


def _named_rustc(rustc_raw: str, cargo: Path | None, cargo_raw: str | None) -> Candidate:
    """The rustc `BUILDBPF_RUSTC` names, with its cargo (`BUILDBPF_CARGO`, else the one beside it)."""
    rustc = named_tool(RUSTC_VARIABLE, rustc_raw, "rustc")
    if _is_rustup_proxy(rustc):
        raise NamedToolError(
            f"{RUSTC_VARIABLE}={rustc_raw} is rustup's proxy, which runs whatever toolchain rustup picks",
            fix="name a toolchain's own rustc ($RUSTUP_HOME/toolchains/NAME/bin/rustc) "
            "or use --toolchain",
        )
    if cargo is None and (cargo := _beside(rustc, "cargo")) is None:
        raise NamedToolError(
            f"{RUSTC_VARIABLE}={rustc_raw}: there is no cargo beside it ({rustc.parent / 'cargo'})",
            fix=f"set {CARGO_VARIABLE} to the cargo of that toolchain, or unset {RUSTC_VARIABLE}",
        )
    source = f"{RUSTC_VARIABLE} {rustc_raw}"
    source += f" (cargo: {CARGO_VARIABLE} {cargo_raw})" if cargo_raw else ""
    return _named_candidate(rustc, cargo, source, RUSTC_VARIABLE)


def _rustc_info(rustc: Path, named: str | None = None) -> RustcInfo:
    """What `rustc -vV` says (cached per binary); `named`: the variable that chose this rustc
    (`BUILDBPF_RUSTC=/bin/false`), which a failure names, with its fix."""
    who = f"{named}: " if named else ""
    variable = named.split("=")[0] if named else None
    fix = (
        f"point {variable} at a toolchain's rustc ($RUSTUP_HOME/toolchains/NAME/bin/rustc), or unset it"
        if variable
        else "reinstall that toolchain or pin another one"
    )
    error = NamedToolError if named else ToolchainError

    def rustc_vv() -> dict[str, str | None]:
        done = probe([rustc, "-vV"])
        if done is None:
            raise error(f"{who}`{rustc} -vV` could not be run (it did not start or did not finish)", fix=fix)
        if done.returncode != 0:
            said = done.stderr.strip()[:200] or done.stdout.strip()[:200]
            raise error(
                f"{who}`{rustc} -vV` {exited(done.returncode)}"
                + (f": {said}" if said else " and printed nothing: it does not look like rustc"),
                fix=fix,
            )
        return {"stdout": done.stdout}

    try:
        return parse_rustc_vv(probe_cache.cached_probe(rustc, "rustc -vV", rustc_vv).get("stdout") or "")
    except ToolchainError as exc:
        if isinstance(exc, NamedToolError) or not named:
            raise
        raise error(f"{who}{exc.message}", fix=fix) from None


def resolve_rust(pin: Pin | None = None, *, candidates: Sequence[Candidate] | None = None) -> RustToolchain:
    """Resolve the Rust toolchain (see the module docstring for the order).

    `BUILDBPF_RUSTC` names the rustc (its cargo: `BUILDBPF_CARGO`, else the one beside it);
    `BUILDBPF_CARGO` alone names the cargo, with the rustc beside it, or else the rustc the
    usual order finds. A named tool is used or refused (NamedToolError), never replaced.
    """
    rustc_raw = os.environ.get(RUSTC_VARIABLE)
    cargo_raw = os.environ.get(CARGO_VARIABLE)
    cargo = named_tool(CARGO_VARIABLE, cargo_raw, "cargo") if cargo_raw else None
    named_by: str | None = None
    if rustc_raw:
        named_by = RUSTC_VARIABLE
        chosen = _named_rustc(rustc_raw, cargo, cargo_raw)
    elif cargo is not None and (beside := _beside(cargo, "rustc")) is not None:
        # the cargo of a toolchain comes with its rustc: that pair is what the user named
        named_by = CARGO_VARIABLE
        chosen = _named_candidate(
            beside, cargo, f"{CARGO_VARIABLE} {cargo_raw} (with the rustc beside it)", CARGO_VARIABLE
        )
    else:
        found = candidates if candidates is not None else [*rustup_toolchains(), *path_rustcs()]
        chosen = choose(found, pin)
        if cargo is not None:  # a cargo without a rustc beside it: with the rustc found as usual
            source = f"{chosen.source} (cargo: {CARGO_VARIABLE} {cargo_raw})"
            chosen = replace(chosen, cargo=cargo, source=source)
    if named_by is not None and pin is not None:
        # the user named a rustc: a pin cannot choose another one
        log.debug("%s is set: %s (from %s) does not apply", named_by, pin.name, pin.origin)
    named = {RUSTC_VARIABLE: f"{RUSTC_VARIABLE}={rustc_raw}", CARGO_VARIABLE: f"{CARGO_VARIABLE}={cargo_raw}"}
    return toolchain_of(chosen, named_by, named.get(named_by or ""))


def toolchain_of(chosen: Candidate, named_by: str | None = None, named: str | None = None) -> RustToolchain:
    """The `RustToolchain` of a candidate that has a cargo (its rustc asked `-vV`); `named`:
    `VARIABLE=value` of the variable that chose it, for a failure to name."""
    assert chosen.cargo is not None  # choose() only returns candidates with cargo
    info = _rustc_info(chosen.rustc, named)
    return RustToolchain(
        source=chosen.source,
        mode=Mode.NIGHTLY if info.channel in ("nightly", "dev") else Mode.BOOTSTRAP,
        cargo=chosen.cargo,
        rustc=chosen.rustc,
        sysroot=chosen.sysroot,
        rustc_info=info,
        rustup_name=chosen.rustup_name,
        named_by=named_by,
    )


def installed(name: str, candidates: Sequence[Candidate] | None = None) -> Candidate | None:
    """The installed rustup toolchain a pin names (`nightly` is `nightly-<host>`), with or
    without rust-src, or None."""
    found = rustup_toolchains() if candidates is None else candidates
    return next((c for c in found if _matches_pin(c, name)), None)
