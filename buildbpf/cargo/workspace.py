"""The workspace as cargo sees it (`cargo metadata`), with each crate's role."""

from __future__ import annotations

import difflib
import enum
import json
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from buildbpf._fs import load_toml
from buildbpf.cargo.features import requested, turns_on
from buildbpf.errors import BuildbpfError, ConfigError

# A crate that depends on one of these is an eBPF crate when the config does not say.
EBPF_MARKERS = frozenset({"aya-ebpf", "aya-bpf"})
# A userspace crate that depends on one of these loads eBPF (`buildbpf run` prefers it).
LOADERS = frozenset({"aya"})


class Role(enum.StrEnum):
    """What a crate is: an eBPF program crate or a userspace (host) crate."""

    EBPF = "ebpf"
    USERSPACE = "userspace"


class DeclaredCrates(Protocol):
    """What the workspace needs of buildbpf's config (`build.settings.LoadedConfig` is one)."""

    def declared_roles(self) -> Mapping[str, Role | None]:
        """Each crate the config names, with its `role` if it sets one."""
        ...

    def origin(self, *key: str) -> str:
        """Where a key is set (`buildbpf.toml:7 crates.probe`), for error messages."""
        ...


@dataclass(frozen=True)
class Crate:
    """One workspace member."""

    name: str
    manifest: Path
    role: Role
    bins: tuple[str, ...]
    has_lib: bool
    uses_aya_build: bool = False  # a build.rs that builds eBPF itself (aya-template)
    edition: str = "2021"
    # an eBPF crate outside the root workspace (the xtask-era layout): its own workspace
    # root and target dir; built from its directory so its own .cargo/config.toml applies
    outside: Path | None = None
    own_target_dir: Path | None = None
    build_deps: tuple[str, ...] = ()  # aya-template lists the eBPF crate its aya-build builds here
    version: str = ""
    # a build.rs that runs cargo for a bpf target itself (hand-rolled cargo-in-cargo, not
    # aya-build): its cargo needs the same stand-ins and RUSTC_BOOTSTRAP as aya-build's
    nests_cargo: bool = False
    loads_ebpf: bool = False  # a userspace crate that depends on aya (not an xtask, not a -common)
    # aya-build as an optional build-dependency, behind a feature: the manifest's [features]
    optional_aya_build: bool = False
    feature_table: tuple[tuple[str, tuple[str, ...]], ...] = ()
    # depends on aya-bpf (before 0.12): its macros name sections after the program
    # (`kprobe/<fn or name=>`, `tp/<name>`), not after what the program attaches to
    old_macros: bool = False

    @property
    def shares_target_dir(self) -> bool:
        """An outside crate built into the workspace's target dir, beside the others.

        Only one with cargo's default, `<its workspace>/target`: a `target-dir` of its config
        (or CARGO_TARGET_DIR) is the project's choice and kept.
        """
        return self.outside is not None and self.own_target_dir == self.outside / "target"

    def runs_aya_build(self, features: Sequence[str] = (), *, default_features: bool = True) -> bool:
        """Whether this crate's build.rs gets aya-build in a build with these `--features`."""
        if not self.uses_aya_build or not self.optional_aya_build:
            return self.uses_aya_build
        wanted = requested(self.name, features)
        return turns_on(dict(self.feature_table), "aya-build", wanted, default=default_features)

    def spec(self, ambiguous: frozenset[str] = frozenset()) -> str:
        """What `-p` names: `name@version` when a dependency has this name too (`-p log` would
        be "ambiguous" to cargo), else the name."""
        return f"{self.name}@{self.version}" if self.name in ambiguous and self.version else self.name

    @property
    def directory(self) -> Path:
        return self.manifest.parent

    @property
    def is_build_root(self) -> bool:
        """An eBPF crate buildbpf links: only bins are linked; an eBPF lib is a dependency."""
        return self.role is Role.EBPF and bool(self.bins)


@dataclass(frozen=True)
class Workspace:
    """Members, their roles, and where cargo puts its output."""

    root: Path
    target_dir: Path
    crates: tuple[Crate, ...]
    metadata: Mapping[str, Any]

    def by_role(self, role: Role) -> list[Crate]:
        return [c for c in self.crates if c.role is role]

    def ebpf_roots(self) -> list[Crate]:
        """The eBPF crates buildbpf builds and links (bins), in and outside the workspace."""
        return [c for c in self.crates if c.is_build_root]

    def built_by_aya_build(
        self, features: Sequence[str] = (), *, default_features: bool = True
    ) -> list[Crate]:
        """eBPF crates a userspace build.rs builds with aya-build (its build-dependencies name
        them, as in aya-template): cargo compiles them there, buildbpf gates the result. An
        aya-build behind a feature these `--features` leave off builds nothing."""
        users = [c for c in self.crates if c.role is Role.USERSPACE
                 and c.runs_aya_build(features, default_features=default_features)]  # fmt: skip
        names = {d for c in users for d in c.build_deps}
        return [c for c in self.ebpf_roots() if c.name in names and c.outside is None]

    def userspace(self) -> list[Crate]:
        """Host crates of the root workspace (eBPF libs and outside crates excluded)."""
        return [c for c in self.crates if c.role is Role.USERSPACE and c.outside is None]

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


def _crate(package: Mapping[str, Any], roles: Mapping[str, Role | None],
           outside: Mapping[str, Any] | None) -> Crate:  # fmt: skip
    name = package["name"]
    deps = {d["name"] for d in package.get("dependencies", []) if d.get("kind") in (None, "normal")}
    role = roles.get(name)
    if role is None:
        role = Role.EBPF if deps & EBPF_MARKERS else Role.USERSPACE
    targets = package.get("targets", [])
    bins = tuple(t["name"] for t in targets if "bin" in t.get("kind", []))
    has_lib = any(k in ("lib", "rlib") for t in targets for k in t.get("kind", []))
    builds = [d for d in package.get("dependencies", []) if d.get("kind") == "build"]
    build_deps = {d["name"] for d in builds}
    aya_build = [d for d in builds if d["name"] == "aya-build"]
    scripts = [Path(t["src_path"]) for t in targets
               if "custom-build" in t.get("kind", []) and t.get("src_path")]  # fmt: skip
    return Crate(
        name, Path(package["manifest_path"]), role, bins, has_lib, "aya-build" in build_deps,
        str(package.get("edition") or "2021"),
        Path(outside["workspace_root"]) if outside is not None else None,
        Path(outside["target_directory"]) if outside is not None else None,
        tuple(sorted(build_deps)), str(package.get("version") or ""),
        role is Role.USERSPACE and "aya-build" not in build_deps and any(map(_runs_bpf_cargo, scripts)),
        role is Role.USERSPACE and bool(deps & LOADERS),
        bool(aya_build) and all(d.get("optional") for d in aya_build),
        tuple((k, tuple(v)) for k, v in sorted((package.get("features") or {}).items())),
        "aya-bpf" in deps,
    )  # fmt: skip


def _runs_bpf_cargo(script: Path) -> bool:
    """Whether a build script builds for a bpf target itself (`-Z build-std`, `bpfel-unknown-none`)."""
    from buildbpf._fs import read_text

    try:
        text = read_text(script, limit=1 << 20, what="build script")
    except (BuildbpfError, OSError):  # unreadable or odd: cargo will say so when it compiles it
        return False
    return "build-std" in text and ("bpfel-unknown-none" in text or "bpfeb-unknown-none" in text)


def _members(data: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    members = set(data.get("workspace_members", []))
    for package in data["packages"]:
        if not members or package["id"] in members:
            yield package


def from_metadata(
    data: Mapping[str, Any], config: DeclaredCrates, outside: Sequence[Mapping[str, Any]] = ()
) -> Workspace:
    """Members and roles: the config's `role` wins, else a dependency on aya-ebpf means eBPF.

    `outside`: `cargo metadata` of eBPF crates found outside the root workspace
    (`outside_candidates`); only their eBPF bins are taken.
    """
    roles = config.declared_roles()
    crates = [_crate(package, roles, None) for package in _members(data)]
    seen = {c.manifest for c in crates}
    for other in outside:
        for package in _members(other):
            crate = _crate(package, roles, other)
            if crate.is_build_root and crate.manifest not in seen:
                seen.add(crate.manifest)
                crates.append(crate)
    names = [c.name for c in crates]
    for name in roles:
        if name not in names:
            raise unknown_crate(name, names, config.origin("crates", name))
    for crate in crates:
        if roles.get(crate.name) is Role.EBPF and not crate.bins:
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


# --- eBPF crates outside the root workspace -----------------------------------------------

_SKIP_DIRS = frozenset({"target", "node_modules", "vendor"})


def _depends_on_aya_ebpf(manifest: Path) -> bool:
    """A cheap look at a Cargo.toml: does any dependency table name aya-ebpf / aya-bpf?"""
    try:
        data, _ = load_toml(manifest, what="manifest")
    except BuildbpfError:  # not readable, not a regular file, not TOML: not a crate to build
        return False
    targets = data.get("target")
    tables = [data.get("dependencies")]
    if isinstance(targets, dict):
        tables += [t.get("dependencies") for t in targets.values() if isinstance(t, dict)]
    for table in tables:
        if not isinstance(table, dict):
            continue
        for key, spec in table.items():
            package = spec.get("package") if isinstance(spec, dict) else None
            if key in EBPF_MARKERS or package in EBPF_MARKERS:
                return True
    return False


def outside_candidates(root: Path, members: Iterable[Path]) -> list[Path]:
    """Directories of eBPF crates near the root workspace but not in it (xtask-era layout).

    Looked for in the root manifest's `workspace.exclude` and in directories up to two levels
    below the root; a crate counts when its Cargo.toml depends on aya-ebpf (or aya-bpf, its
    pre-0.12 name). Reads files only; `cargo metadata` of each is the caller's.
    """
    inside = {Path(m).resolve() for m in members}
    places: list[Path] = []
    try:
        workspace = load_toml(root / "Cargo.toml", what="manifest")[0].get("workspace")
    except BuildbpfError:
        workspace = None  # cargo metadata read it: nothing to add
    if isinstance(workspace, dict) and isinstance(excluded := workspace.get("exclude"), list):
        places += [root / e for e in excluded if isinstance(e, str)]
    for first in _subdirs(root):
        places.append(first)
        places += _subdirs(first)
    found = []
    for place in dict.fromkeys(places):
        manifest = place / "Cargo.toml"
        if place.resolve() in inside or not manifest.is_file():
            continue
        if _depends_on_aya_ebpf(manifest):
            found.append(place)
    return found


def _subdirs(directory: Path) -> list[Path]:
    try:
        return sorted(
            p for p in directory.iterdir()
            if p.is_dir() and not p.name.startswith(".") and p.name not in _SKIP_DIRS
        )  # fmt: skip
    except OSError:
        return []
