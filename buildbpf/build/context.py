"""Load a build's inputs: the workspace (`cargo metadata`), its config, per-crate settings and
the toolchains, and what cargo's own configuration decides (the userspace target)."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from buildbpf.build import precedence, settings
from buildbpf.cargo import config_file, gitdeps, metadata
from buildbpf.cargo.workspace import Workspace, from_metadata
from buildbpf.errors import ConfigError
from buildbpf.toolchain import Toolchain
from buildbpf.toolchain.linker import resolve_linker
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import RustToolchain, resolve_rust
from buildbpf.toolchain.userspace import sides_line, userspace_rust

log = logging.getLogger("buildbpf")


@dataclass(frozen=True)
class Context:
    """The loaded inputs of a build: workspace, config, per-crate settings and toolchain."""

    workspace: Workspace
    config: settings.LoadedConfig
    effective: Mapping[str, settings.Effective]
    toolchain: Toolchain
    git_urls: tuple[str, ...] = ()  # git dependencies of the workspace (and outside crates)
    cargo_roots: tuple[Path, ...] = ()  # where cargo resolves: the root and outside workspaces
    cargo_timeout: float = precedence.DEFAULT_CARGO_TIMEOUT  # seconds, per cargo call
    ambiguous: frozenset[str] = frozenset()  # member names a locked dependency has too
    # eBPF crates pinned to another toolchain than the workspace's ([crates.NAME] toolchain)
    crate_toolchains: Mapping[str, Toolchain] = field(default_factory=dict)
    # what `buildbpf run` starts the binary with: read here, so a bad value stops before building
    runner: settings.Value = field(default_factory=lambda: settings.Value(None, settings.Source.DEFAULT, ""))
    # what userspace builds with when not the eBPF toolchain (`toolchain.userspace`)
    userspace_rust: RustToolchain | None = None

    @property
    def userspace(self) -> RustToolchain:
        """The toolchain the userspace crates build with."""
        return self.userspace_rust or self.toolchain.rust


def load(cwd: Path, overrides: settings.Overrides, environ: Mapping[str, str]) -> Context:
    """Resolve the toolchain, read the workspace and its config, and merge settings."""
    pin = precedence.toolchain_pins(None, cwd, environ, overrides).workspace  # before the config is read
    rust = resolve_rust(pin)
    data = metadata.cargo_metadata(rust, cwd)
    config = settings.load_config(Path(data["workspace_root"]), data.get("metadata"))
    if config.ignored is not None:
        log.warning("%s wins; [workspace.metadata.buildbpf] in %s is ignored", config.path, config.ignored)
    if (configured := precedence.toolchain_pins(config, cwd, environ, overrides).workspace) != pin:
        rust = resolve_rust(configured)
    # the linker is looked for once the config is read: its `bpf_linker` counts as much as the
    # toolchain pin (--bpf-linker > BUILDBPF_BPF_LINKER > the file)
    linker, origin = linker_setting(config, overrides, environ)
    toolchain = Toolchain(rust, resolve_linker(rust.llvm_major, linker, origin).require())
    outside = metadata.outside_metadata(toolchain.rust, data)
    workspace = from_metadata(data, config, outside)
    effective = {c.name: precedence.effective(c.name, config, environ, overrides) for c in workspace.crates}
    roots = tuple(dict.fromkeys(Path(d["workspace_root"]) for d in [data, *outside]))
    urls = tuple(gitdeps.git_sources([data, *outside]))
    timeout = precedence.cargo_timeout(config, environ).value
    runner = precedence.workspace_value("runner", config, environ)
    ambiguous = metadata.locked_duplicates(roots) & {c.name for c in workspace.crates}
    ebpf = [c.name for c in workspace.ebpf_roots()]
    pins = precedence.toolchain_pins(config, cwd, environ, overrides, ebpf).crates
    per_crate = crate_toolchains(workspace, pins, (linker, origin))
    user, why = userspace_rust(rust, configured, workspace.root, environ)
    if why is not None and any(c.nests_cargo for c in workspace.userspace()):
        # cargo hands its RUSTC to build scripts: a build.rs running cargo for a bpf target
        # itself would build eBPF with the pin, which cannot (no rust-src)
        log.debug("userspace builds with %s too: a build.rs of it runs cargo for eBPF", rust.describe())
        user, why = rust, None
    if why is not None:
        log.info("%s", sides_line(rust, user, why))
    return Context(workspace, config, effective, toolchain, urls, roots, timeout, frozenset(ambiguous),
                   per_crate, runner, user if why is not None else None)  # fmt: skip


def crate_toolchains(
    workspace: Workspace, pins: Mapping[str, Pin], linker: tuple[str | None, str]
) -> dict[str, Toolchain]:
    """The eBPF crates pinned to another toolchain than the workspace's
    (`precedence.toolchain_pins`), each resolved strictly (the user named it) with a
    bpf-linker for its LLVM."""
    found: dict[str, Toolchain] = {}
    resolved: dict[str, Toolchain] = {}
    for crate in workspace.ebpf_roots():
        if (pin := pins.get(crate.name)) is None:
            continue
        if pin.name not in resolved:
            rust = resolve_rust(pin)
            resolved[pin.name] = Toolchain(rust, resolve_linker(rust.llvm_major, *linker).require())
        found[crate.name] = resolved[pin.name]
        log.debug("%s builds with %s (%s)", crate.name, pin.name, pin.origin)
    return found


def linker_setting(
    config: settings.LoadedConfig, overrides: settings.Overrides, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The bpf-linker the user named and who named it: --bpf-linker > env > `bpf_linker` in
    the config file (relative to the file's directory, as cargo reads paths in its config)."""
    value = precedence.workspace_value("bpf_linker", config, environ, overrides)
    return value.value, value.origin


def userspace_triple(root: Path, environ: Mapping[str, str], host: str) -> str:
    """The target cargo builds userspace for: what `bpf_target_arch` and byte order follow.

    As cargo decides: CARGO_BUILD_TARGET, else `build.target` in the first `.cargo/config.toml`
    from the workspace root upwards, then cargo's home; else the host. A target spec file
    (`path/to/x.json`) counts by its name.
    """

    def named(value: object, origin: str) -> str | None:
        if isinstance(value, list):
            if len(value) > 1:
                names = ", ".join(map(str, value))
                log.warning("%s names several targets (%s): eBPF follows the first", origin, names)
            value = value[0] if value else None
        if not isinstance(value, str) or not value or value.startswith("bpf"):
            return None  # a bpf target there is for the eBPF crates, not for userspace
        if "\0" in value:  # it becomes an argument of cargo, which no NUL can be in
            raise ConfigError(f"{origin} holds a NUL character (\\u0000): {value!r}",
                              fix=f"remove the \\u0000 from {origin}")  # fmt: skip
        return Path(value).stem if value.endswith(".json") else value

    if triple := named(environ.get("CARGO_BUILD_TARGET"), "CARGO_BUILD_TARGET"):
        return triple
    for config in config_file.config_chain(root):
        build = metadata.optional_toml(config, "cargo configuration").get("build")
        if isinstance(build, dict) and (triple := named(build.get("target"), f"{config}: build.target")):
            return triple
    return host
