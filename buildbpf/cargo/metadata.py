"""What `cargo metadata` says about the workspace, and the names its Cargo.lock repeats."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf import _fs
from buildbpf._process import exited, run
from buildbpf.cargo.workspace import outside_candidates, parse_metadata
from buildbpf.errors import ConfigError, ToolchainError

if TYPE_CHECKING:
    from buildbpf.toolchain.rust import RustToolchain

log = logging.getLogger("buildbpf")


def cargo_metadata(rust: RustToolchain, cwd: Path) -> dict[str, Any]:
    """`cargo metadata --no-deps` of the workspace around `cwd`."""
    done = run(
        [rust.cargo, "metadata", "--format-version", "1", "--no-deps"],
        cwd=cwd,
        env_set=rust.cargo_env(),
        echo=False,
        stream=False,
        check=False,
    )
    if done.returncode != 0 and not done.stderr.strip():
        # a cargo says why it fails: one that says nothing (BUILDBPF_CARGO=/bin/false) is not one
        raise ToolchainError(
            f"`{rust.cargo} metadata` {exited(done.returncode)} and printed nothing "
            f"(cargo from {rust.source})",
            fix=_not_cargo_fix(rust),
        )
    if done.returncode != 0:
        raise ConfigError(
            f"cargo metadata failed in {cwd}:\n{cargo_message(done.stderr)}",
            fix="run buildbpf inside a cargo workspace, or fix the Cargo.toml it names",
        )
    try:
        return parse_metadata(done.stdout)
    except ConfigError as error:
        raise ToolchainError(f"`{rust.cargo} metadata`: {error.message} (cargo from {rust.source})",
                             fix=_not_cargo_fix(rust)) from None  # fmt: skip


def _not_cargo_fix(rust: RustToolchain) -> str:
    if "BUILDBPF_CARGO" in rust.source:
        return "point BUILDBPF_CARGO at a toolchain's cargo, or unset it"
    return f"check that {rust.cargo} is cargo: reinstall that toolchain or pin another one"


def cargo_message(stderr: str, limit: int = 40) -> str:
    """cargo's whole error, indented: its `Caused by:` and `--> Cargo.toml:1:11` lines locate
    the problem, and a manifest error is short (capped at `limit` lines all the same)."""
    lines = [line.rstrip() for line in stderr.strip().splitlines()] or ["(cargo printed nothing)"]
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more lines)"]
    return "\n".join(f"  {line}" for line in lines)


def outside_metadata(rust: RustToolchain, data: Mapping[str, Any]) -> list[dict[str, Any]]:
    """`cargo metadata` of each eBPF crate found outside the root workspace (PITFALLS #24).

    Run from the crate's own directory, so its `.cargo/config.toml` (often `target-dir =
    "../target"`) decides its target directory, as for the project's own build.
    """
    members = [Path(p["manifest_path"]).parent for p in data["packages"]]
    found = []
    for directory in outside_candidates(Path(data["workspace_root"]), members):
        done = run(
            [rust.cargo, "metadata", "--format-version", "1", "--no-deps"],
            cwd=directory, env_set=rust.cargo_env(), echo=False, stream=False, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            first = next((line for line in done.stderr.splitlines() if line.strip()), "no output")
            log.warning("%s looks like an eBPF crate but cargo cannot read it: %s", directory, first)
            continue
        found.append(parse_metadata(done.stdout))
    return found


def optional_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file buildbpf only reads for hints: empty when missing or unreadable (cargo, which
    reads it too, reports what is wrong with it)."""
    if not _fs.is_file(path):
        return {}
    try:
        return _fs.load_toml(path, what=what)[0]
    except ConfigError as error:
        log.debug("%s: %s", path, error.message)
        return {}


def locked_duplicates(roots: Iterable[Path]) -> set[str]:
    """Package names that Cargo.lock holds more than once (a member and a dependency)."""
    from collections import Counter

    found: set[str] = set()
    for root in roots:
        packages = optional_toml(root / "Cargo.lock", "Cargo.lock").get("package")
        if isinstance(packages, list):
            names = Counter(p.get("name") for p in packages if isinstance(p, dict))
            found |= {n for n, count in names.items() if isinstance(n, str) and count > 1}
    return found
