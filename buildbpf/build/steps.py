"""The build plan as data: its steps, what each runs, and the JSON `--print-plan` shows."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from buildbpf._process import Command
from buildbpf.build.settings import BpfTarget
from buildbpf.cargo.config_file import ManagedKey


@dataclass(frozen=True)
class BuildOptions:
    """What the user asked `buildbpf build` for."""

    release: bool = False
    packages: tuple[str, ...] = ()
    # cargo's own flags, passed where they belong (`cargo_flags`)
    features: tuple[str, ...] = ()  # userspace only: eBPF features are `features` in buildbpf.toml
    no_default_features: bool = False  # userspace only
    target_dir: Path | None = None  # every call building into the workspace's target dir
    locked: bool = False  # every cargo call
    offline: bool = False
    frozen: bool = False
    jobs: int | None = None

    def fetch_flags(self) -> list[str]:
        """What `cargo fetch` takes of these: `--locked`, `--offline`, `--frozen`."""
        return [f for f, on in (("--locked", self.locked), ("--offline", self.offline),
                                ("--frozen", self.frozen)) if on]  # fmt: skip

    def cargo_flags(self, *, userspace: bool, own_target_dir: bool = False) -> list[str]:
        """The flags for one cargo build call: `--features`/`--no-default-features` only for
        userspace, `--target-dir` unless the crate builds into its own project's target dir
        (an eBPF crate outside the workspace), the rest for every call."""
        flags: list[str] = []
        if userspace and self.features:
            flags += ["--features", ",".join(self.features)]
        if userspace and self.no_default_features:
            flags.append("--no-default-features")
        if self.target_dir is not None and not own_target_dir:
            flags += ["--target-dir", str(self.target_dir)]
        flags += self.fetch_flags()
        if self.jobs is not None:
            flags += ["-j", str(self.jobs)]
        return flags


@dataclass(frozen=True)
class ConfigStep:
    """Managed keys for one eBPF crate's `.cargo/config.toml`."""

    crate: str
    directory: Path
    keys: tuple[ManagedKey, ...]


@dataclass(frozen=True)
class EbpfStep:
    """Build eBPF crates for one byte order, then gate and publish their objects.

    Crates whose flags are all the same share one cargo call (one dependency graph, one
    lock, parallel codegen); a crate with its own settings is built alone.
    """

    crates: tuple[str, ...]
    target: BpfTarget
    bins: tuple[tuple[str, str], ...]  # (crate, bin)
    btf: bool
    call: Command
    objects_dir: Path
    # where an outside crate's project expects the object besides where cargo wrote it
    # (xtask-era userspace embeds `target/bpfel-unknown-none/debug/NAME` in debug builds; a
    # crate built into the shared target dir gets its own `.../release/NAME` too)
    mirror_dirs: tuple[Path, ...] = ()
    editions: tuple[tuple[str, str], ...] = ()  # (crate, Rust edition), for fix lines
    old_macros: tuple[str, ...] = ()  # crates on aya-bpf: judged as Aya before 0.12 reads them
    overridden: tuple[str, ...] = ()  # project rustflags buildbpf's own flags replaced, one line each

    @property
    def what(self) -> str:
        """How messages name this build: `eBPF crate x (bpfel-unknown-none)`."""
        plural = "s" if len(self.crates) > 1 else ""
        return f"eBPF crate{plural} {', '.join(self.crates)} ({self.target.triple})"


@dataclass(frozen=True)
class UserspaceStep:
    """Build the userspace crates with the verified objects available."""

    crates: tuple[str, ...]
    call: Command
    # eBPF objects that aya-build (in a build.rs) puts into OUT_DIR: gated after the build
    aya_build_objects: tuple[tuple[str, str], ...] = ()  # (userspace crate, eBPF bin)
    target: BpfTarget = BpfTarget.BPFEL
    aya_built: tuple[tuple[str, str], ...] = ()  # (eBPF crate, bin) only aya-build compiles
    objects_dir: Path | None = None  # where the gated aya-build objects are published

    @property
    def what(self) -> str:
        """How messages name this build: `userspace crates x, x-common`."""
        return f"userspace crates {', '.join(self.crates)}"


@dataclass(frozen=True)
class CrateTools:
    """The cargo (with its environment) and bpf-linker one eBPF crate is built with."""

    cargo: Path
    cargo_env: Mapping[str, str]
    linker: Path

    def __hash__(self) -> int:
        return hash((self.cargo, tuple(sorted(self.cargo_env.items())), self.linker))


def command_json(call: Command) -> dict[str, object]:
    """A cargo call as the printed plan shows it."""
    return {
        "argv": list(call.argv),
        "cwd": str(call.cwd),
        "env_set": dict(sorted(call.env_set.items())),
        "env_remove": list(call.env_remove),
    }


@dataclass(frozen=True)
class Publication:
    """Where a workspace's objects are published and which eBPF bins it has now: an object it
    published there for another name is stale (`layout.remove_stale`)."""

    workspace: Path
    objects_dirs: tuple[Path, ...]  # one per byte order, under the target dir this build uses
    bins: frozenset[str]  # every eBPF bin of the workspace, whatever `-p` selects


@dataclass(frozen=True)
class BuildPlan:
    """Everything `buildbpf build` will do, as data."""

    configs: tuple[ConfigStep, ...]
    ebpf: tuple[EbpfStep, ...]
    userspace: UserspaceStep | None
    objects_env: str = "BUILDBPF_OBJECTS"
    publication: Publication | None = None

    @property
    def calls(self) -> list[Command]:
        """Every cargo call, in the order they run."""
        return [s.call for s in self.ebpf] + ([self.userspace.call] if self.userspace else [])

    @property
    def output_dirs(self) -> list[Path]:
        """The `<target-dir>/buildbpf` directories this build publishes verified objects into."""
        dirs = [s.objects_dir for s in self.ebpf]
        if self.userspace is not None and self.userspace.objects_dir is not None:
            dirs.append(self.userspace.objects_dir)
        return list(dict.fromkeys(d.parent for d in dirs))

    def as_json(self) -> dict[str, object]:
        """The plan as `--print-plan` prints it (and the golden files hold it)."""
        return {
            "configs": [
                {"crate": s.crate, "path": str(s.directory / ".cargo" / "config.toml"),
                 "keys": {k.dotted: k.value for k in s.keys}}
                for s in self.configs
            ],
            "ebpf": [
                {"crates": list(s.crates), "target": s.target.value, "bins": [b for _, b in s.bins],
                 "btf": s.btf, "objects_dir": str(s.objects_dir), "cargo": command_json(s.call),
                 **({"mirror_dirs": [str(d) for d in s.mirror_dirs]} if s.mirror_dirs else {})}
                for s in self.ebpf
            ],
            "userspace": None if self.userspace is None
            else {"crates": list(self.userspace.crates), "cargo": command_json(self.userspace.call),
                  "aya_build_objects": [list(p) for p in self.userspace.aya_build_objects],
                  "aya_built": [list(p) for p in self.userspace.aya_built]},
        }  # fmt: skip
