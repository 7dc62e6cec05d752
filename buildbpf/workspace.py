"""The workspace as cargo sees it (`cargo metadata`), with each crate's role."""

from __future__ import annotations

import difflib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from buildbpf.errors import ConfigError
from buildbpf.settings import LoadedConfig, Role

# A crate that depends on one of these is an eBPF crate when the config does not say.
EBPF_MARKERS = frozenset({"aya-ebpf", "aya-bpf"})


@dataclass(frozen=True)
class Crate:
    """One workspace member."""

    name: str
    manifest: Path
    role: Role
    bins: tuple[str, ...]
    has_lib: bool
    uses_aya_build: bool = False  # a build.rs that builds eBPF itself (aya-template)

    @property
    def directory(self) -> Path:
        return self.manifest.parent


@dataclass(frozen=True)
class Workspace:
    """Members, their roles, and where cargo puts its output."""

    root: Path
    target_dir: Path
    crates: tuple[Crate, ...]
    metadata: Mapping[str, Any]

    def by_role(self, role: Role) -> list[Crate]:
        return [c for c in self.crates if c.role is role]

    def select(self, names: Iterable[str]) -> list[Crate]:
        """Crates named with `-p`; ConfigError with a did-you-mean for an unknown name."""
        known = {c.name: c for c in self.crates}
        chosen = []
        for name in names:
            if name not in known:
                raise unknown_crate(name, list(known), "-p")
            chosen.append(known[name])
        return chosen


def unknown_crate(name: str, known: list[str], where: str) -> ConfigError:
    """The error for a crate name that is not a workspace member."""
    guess = difflib.get_close_matches(name, known, n=1)
    hint = f"; did you mean `{guess[0]}`?" if guess else ""
    return ConfigError(
        f"{where}: crate `{name}` is not a member of this workspace{hint} "
        f"(members: {', '.join(sorted(known))})",
        fix=f"use one of the member names{f', e.g. {guess[0]}' if guess else ''}",
    )


def parse_metadata(text: str) -> dict[str, Any]:
    """Parse `cargo metadata --format-version 1` output."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"cargo metadata printed something that is not JSON: {exc}") from exc
    if not isinstance(data, dict) or "packages" not in data:
        raise ConfigError("cargo metadata output has no `packages`")
    return data


def from_metadata(data: Mapping[str, Any], config: LoadedConfig) -> Workspace:
    """Members and roles: the config's `role` wins, else a dependency on aya-ebpf means eBPF."""
    members = set(data.get("workspace_members", []))
    crates = []
    for package in data["packages"]:
        if members and package["id"] not in members:
            continue
        name = package["name"]
        deps = {d["name"] for d in package.get("dependencies", []) if d.get("kind") in (None, "normal")}
        configured = config.model.crates.get(name)
        role = configured.role if configured is not None and configured.role is not None else None
        if role is None:
            role = Role.EBPF if deps & EBPF_MARKERS else Role.USERSPACE
        bins = tuple(t["name"] for t in package.get("targets", []) if "bin" in t.get("kind", []))
        has_lib = any(k in ("lib", "rlib") for t in package.get("targets", []) for k in t.get("kind", []))
        build_deps = {d["name"] for d in package.get("dependencies", []) if d.get("kind") == "build"}
        crates.append(
            Crate(name, Path(package["manifest_path"]), role, bins, has_lib, "aya-build" in build_deps)
        )
    names = [c.name for c in crates]
    for name in config.model.crates:
        if name not in names:
            raise unknown_crate(name, names, config.origin("crates", name))
    for crate in crates:
        if crate.role is Role.EBPF and not crate.bins:
            raise ConfigError(
                f"eBPF crate `{crate.name}` has no [[bin]] target: bpf-linker only links bins, a lib "
                "of a bpf target is LLVM bitcode, not eBPF",
                fix=f"add src/main.rs (#![no_std] #![no_main]) to {crate.directory}",
            )
    return Workspace(
        root=Path(data["workspace_root"]),
        target_dir=Path(data["target_directory"]),
        crates=tuple(crates),
        metadata=data.get("metadata") or {},
    )
