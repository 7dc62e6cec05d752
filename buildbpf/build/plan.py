"""Pure planning: from (toolchain, crate, options, environment) to the exact cargo call.

Nothing here runs a process or touches a file, so the plan can be printed
(`--print-plan`) and compared against golden files.
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from buildbpf._process import Command
from buildbpf.build import rustflags as project_flags
from buildbpf.build.layout import objects_dir
from buildbpf.build.settings import BpfTarget, Effective
from buildbpf.build.steps import (
    BuildOptions,
    BuildPlan,
    ConfigStep,
    CrateTools,
    EbpfStep,
    Publication,
    UserspaceStep,
)
from buildbpf.cargo.config_file import ConfigFlags, managed_keys
from buildbpf.cargo.env import leaky_variables
from buildbpf.cargo.workspace import Crate, Role, Workspace
from buildbpf.errors import ConfigError

# When cargo has to (re)write Cargo.lock, prefer versions whose rust-version this
# toolchain satisfies (the resolver-3 default; resolver 2 would pick crates that need a
# newer rustc than Debian's).
RESOLVER_FALLBACK = ("--config", 'resolver.incompatible-rust-versions="fallback"')

# What the verifier needs from an eBPF release build (PITFALLS #6); forced through
# --config because cargo ignores [profile] in a workspace member's Cargo.toml.
RELEASE_PROFILE: tuple[tuple[str, str], ...] = (
    ("opt-level", "3"),
    ("lto", "true"),
    ("codegen-units", "1"),
    ("panic", '"abort"'),
    ("debug-assertions", "false"),
    ("overflow-checks", "false"),
)


def triple(target: str) -> str:
    """`bpfel` -> `bpfel-unknown-none`."""
    return target if target.endswith("-unknown-none") else f"{target}-unknown-none"


def linker_first_on_path(linker: Path, environ: Mapping[str, str] | None) -> str:
    """PATH with bpf-linker's directory first: build scripts look it up by name.

    aya-template's eBPF build.rs runs `which("bpf-linker").unwrap()` (PITFALLS #22), and
    aya-build's nested cargo links with the bpf target's default linker `bpf-linker`.
    """
    rest = [d for d in (environ or {}).get("PATH", "").split(os.pathsep) if d]
    return os.pathsep.join(dict.fromkeys([str(linker.parent), *rest]))


def toml_value(value: object) -> str:
    """A TOML literal for `--config key=value` (JSON strings and arrays are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


def ebpf_rustflags(
    *,
    btf: bool,
    debuginfo: int = 2,
    bpf_target_arch: str | None = None,
    cpu: str | None = None,
    cpu_features: tuple[str, ...] = (),
    linker_args: tuple[str, ...] = (),
    extra: tuple[str, ...] = (),
) -> list[str]:
    """rustflags for the bpf target only (BTF needs both flags: PITFALLS #10).

    rustc hands `-C target-cpu` / `-C target-feature` to bpf-linker as `--cpu` /
    `--cpu-features`; other linker options go through `-C link-arg=`.
    """
    flags = ["-C", "debuginfo=2", "-C", "link-arg=--btf"] if btf else ["-C", f"debuginfo={debuginfo}"]
    if bpf_target_arch:
        # aya-ebpf reads this cfg to pick pt_regs layouts; without it, it guesses the host
        flags += ["--cfg", f'bpf_target_arch="{bpf_target_arch}"']
    if cpu:
        flags += ["-C", f"target-cpu={cpu}"]
    if cpu_features:
        flags += ["-C", f"target-feature={','.join(cpu_features)}"]
    flags += [f"-Clink-arg={arg}" for arg in linker_args]
    return [*flags, *extra]


def profile_value(value: object) -> str:
    """TOML for a profile setting: opt-level 3 is an integer, "s"/"z" are strings."""
    if isinstance(value, str) and value.isdigit():
        return value
    return toml_value(value)


def ebpf_build(
    *,
    cargo: Path,
    cargo_env: Mapping[str, str],
    linker: Path,
    crate_dir: Path,
    target: str = "bpfel",
    release: bool = True,
    btf: bool = True,
    build_std: tuple[str, ...] = ("core",),
    rustflags: list[str] | None = None,
    profile: Mapping[str, object] | None = None,
    packages: Sequence[str] = (),
    features: tuple[str, ...] = (),
    no_default_features: bool = False,
    environ: Mapping[str, str] | None = None,
    cargo_flags: Sequence[str] = (),
) -> Command:
    """The cargo call that builds one eBPF crate into a linked, BTF-carrying object.

    It runs from the crate's directory (so its `.cargo/config.toml` applies) and still
    passes every flag explicitly. rustflags go through CARGO_ENCODED_RUSTFLAGS, the
    highest-precedence source, which with `--target` reaches only the bpf target (not
    build scripts): config-file rustflags arrays would be merged, not replaced.
    """
    bpf = triple(target)
    flags = rustflags if rustflags is not None else ebpf_rustflags(btf=btf)
    argv = [str(cargo), "build"]
    for package in packages:
        argv += ["-p", package]
    argv += [
        "-Z", f"build-std={','.join(build_std)}",
        "--target", bpf,
        "--config", f"target.{bpf}.linker={toml_value(str(linker))}",
    ]  # fmt: skip
    if release:
        argv.append("--release")
        settings = dict(RELEASE_PROFILE)
        settings.update({k: profile_value(v) for k, v in (profile or {}).items()})
        for key, value in settings.items():
            argv += ["--config", f"profile.release.{key}={value}"]
    else:
        argv += ["--config", 'profile.dev.panic="abort"']
    if features:
        argv += ["--features", ",".join(features)]
    if no_default_features:
        argv.append("--no-default-features")
    argv += [*cargo_flags, *RESOLVER_FALLBACK, "--message-format", "json-render-diagnostics"]
    env_set = {
        **cargo_env,
        "CARGO_ENCODED_RUSTFLAGS": "\x1f".join(flags),
        "PATH": linker_first_on_path(linker, environ),
    }
    return Command(
        argv=tuple(argv),
        cwd=crate_dir,
        env_set=env_set,
        env_remove=tuple(k for k in leaky_variables(environ or {}) if k not in env_set),
    )


def target_arch(triple: str) -> str:
    """`x86_64-unknown-linux-gnu` -> `x86_64`."""
    return triple.split("-", 1)[0]


def host_endianness(arch: str) -> BpfTarget:
    """The byte order eBPF objects need to match a userspace arch."""
    big = ("s390x", "powerpc", "powerpc64", "sparc64", "mips", "mips64", "aarch64_be", "armeb")
    return BpfTarget.BPFEB if arch in big else BpfTarget.BPFEL


def no_ebpf_crate(workspace: Workspace) -> ConfigError:
    """The error for a workspace without an eBPF bin, saying when only libraries use aya-ebpf."""
    libraries = [c.name for c in workspace.by_role(Role.EBPF)]
    one = len(libraries) == 1
    why = (
        f"{', '.join(libraries)} depend{'s' if one else ''} on aya-ebpf but "
        f"{'is a library' if one else 'are libraries'} (no [[bin]]: only bins are linked into eBPF objects)"
        if libraries
        else "none depends on aya-ebpf and none is configured as one"
    )
    return ConfigError(
        f"no eBPF crate in the workspace at {workspace.root}: {why}",
        fix='add [crates.NAME] role = "ebpf" to buildbpf.toml, or depend on aya-ebpf from a bin crate',
    )


def _userspace_step(
    workspace: Workspace,
    user_crates: Sequence[Crate],
    chosen: BpfTarget,
    aya_built: set[str],
    *,
    cargo: Path,
    cargo_env: Mapping[str, str],
    linker: Path,
    options: BuildOptions,
    environ: Mapping[str, str],
    aya_build_env: Mapping[str, str] | None,
    ambiguous: frozenset[str],
) -> UserspaceStep:
    """The userspace cargo call, from the workspace root, with the objects of `chosen`."""
    argv = [str(cargo), "build"]
    for crate in user_crates:
        argv += ["-p", crate.spec(ambiguous)]
    if options.release:
        argv.append("--release")
    argv += [*options.cargo_flags(userspace=True), *RESOLVER_FALLBACK, "--message-format",
             "json-render-diagnostics"]  # fmt: skip
    env = {k: v for k, v in cargo_env.items() if k != "RUSTC_BOOTSTRAP"}
    env["BUILDBPF_OBJECTS"] = str(objects_dir(workspace.target_dir, chosen))
    env["PATH"] = linker_first_on_path(linker, environ)
    default = not options.no_default_features
    nested = [c for c in user_crates if c.runs_aya_build(options.features, default_features=default)]
    if nested or any(c.nests_cargo for c in user_crates):
        env.update(aya_build_env or {})
    bins = [(e.name, b) for e in workspace.ebpf_roots() for b in e.bins]
    return UserspaceStep(
        tuple(c.name for c in user_crates),
        Command(tuple(argv), workspace.root, env, ()),
        tuple((c.name, b) for c in nested for _, b in bins),
        chosen,
        tuple((e, b) for e, b in bins if e in aya_built),
        objects_dir(workspace.target_dir, chosen),
    )


def _crate_rustflags(eff: Effective, arch: str) -> list[str]:
    """The bpf-target rustflags one crate's settings ask for."""
    link = eff["linker"]
    return ebpf_rustflags(
        btf=eff["btf"],
        debuginfo=eff["debuginfo"],
        bpf_target_arch=eff["bpf_target_arch"] or arch,
        cpu=link.cpu.value if link.cpu else None,
        cpu_features=tuple(link.cpu_features or ()),
        linker_args=(
            *(("--unroll-loops",) if link.unroll_loops else ()),
            *(("--ignore-inline-never",) if link.ignore_inline_never else ()),
            *(link.extra_args or ()),
        ),
        extra=tuple(eff["rustflags"]),
    )


def _profile(eff: Effective) -> dict[str, str]:
    """The release profile an eBPF call passes, as rustc's `-C key=value` would say it."""
    profile = {k: v.strip('"') for k, v in RELEASE_PROFILE}
    profile |= {"opt-level": str(eff["opt_level"]), "lto": toml_value(eff["lto"]).strip('"'),
                "codegen-units": str(eff["codegen_units"])}  # fmt: skip
    return profile


ProjectFlags = Mapping[tuple[str, str], Sequence[ConfigFlags]]  # (crate, triple) -> its configs' flags
_Member = tuple[Crate, BpfTarget, list[str], Effective, tuple[str, ...]]


def _group(
    ebpf_crates: Sequence[Crate],
    settings: Mapping[str, Effective],
    arch: str,
    solo: frozenset[str],
    crate_tools: Mapping[str, CrateTools],
    *,
    project: ProjectFlags,
) -> tuple[list[list[_Member]], list[ConfigStep]]:
    """eBPF crates grouped by the cargo call that builds them, and each crate's config keys.

    Crates built with the same flags share a cargo call, unless their directory holds cargo
    settings of the user's (only a call from that directory applies them) or they have
    features (cargo applies --features to every selected package). The call's flags are
    buildbpf's merged with the project's own (`project`); the config keys only buildbpf's.
    """
    configs = []
    groups: dict[tuple[object, ...], list[_Member]] = {}
    for crate in ebpf_crates:
        eff = settings[crate.name]
        targets: list[BpfTarget] = list(eff["targets"])
        flags_by_triple: dict[str, list[str]] = {}
        for target in targets:
            ours = flags_by_triple[target.triple] = _crate_rustflags(eff, arch)
            merged = project_flags.merge(
                ours, project.get((crate.name, target.triple), ()), _profile(eff), crate=crate.name
            )
            flags = merged.flags
            shared = (
                target, tuple(flags), tuple(eff["build_std"]), str(eff["opt_level"]), str(eff["lto"]),
                eff["codegen_units"], eff["no_default_features"], eff["btf"],
            )  # fmt: skip
            alone = crate.name in solo or bool(eff["features"]) or crate.outside is not None
            key = ("alone", crate.name, target) if alone else (*shared, crate_tools.get(crate.name))
            while any(set(m.bins) & set(crate.bins) for m, *_ in groups.get(key, [])):
                key = (*key, "again")  # two bins of one name would overwrite each other
            groups.setdefault(key, []).append((crate, target, flags, eff, merged.overridden))
        keys = managed_keys([t.triple for t in targets], flags_by_triple, eff["build_std"])
        configs.append(ConfigStep(crate.name, crate.directory, tuple(keys)))
    return list(groups.values()), configs


def _ebpf_step(
    workspace: Workspace,
    members: Sequence[_Member],
    tools: CrateTools,
    *,
    ambiguous: frozenset[str],
    environ: Mapping[str, str],
    options: BuildOptions,
) -> EbpfStep:
    """The step that builds one group of eBPF crates for one byte order."""
    crate, target, flags, eff, _ = members[0]
    cargo_flags = options.cargo_flags(userspace=False, own_target_dir=any(m[0].outside for m in members))
    mirrors = [
        m[0].own_target_dir / target.triple / "debug"
        for m in members
        if m[0].own_target_dir is not None and not options.release
    ]
    if crate.shares_target_dir:
        # one target dir for every eBPF crate: core and aya-ebpf compiled once, not once per
        # crate's own workspace; the object is still left where its project looks for it
        cargo_flags += ["--target-dir", str(workspace.target_dir)]
        assert crate.own_target_dir is not None
        mirrors.append(crate.own_target_dir / target.triple / "release")
    call = ebpf_build(
        cargo=tools.cargo,
        cargo_env=tools.cargo_env,
        linker=tools.linker,
        # one crate: from its directory, so its .cargo/config.toml applies as for `cargo build` there
        crate_dir=crate.directory if len(members) == 1 else workspace.root,
        target=target.value,
        release=True,  # debug builds of eBPF do not pass the verifier (PITFALLS #6)
        btf=eff["btf"],
        build_std=tuple(eff["build_std"]),
        rustflags=flags,
        profile={"opt-level": eff["opt_level"], "lto": eff["lto"], "codegen-units": eff["codegen_units"]},
        packages=[m[0].spec(ambiguous) for m in members],
        features=tuple(eff["features"]),
        no_default_features=eff["no_default_features"],
        environ=environ,
        cargo_flags=cargo_flags,
    )
    return EbpfStep(
        tuple(m[0].name for m in members),
        target,
        tuple((m[0].name, b) for m in members for b in m[0].bins),
        eff["btf"],
        call,
        objects_dir(workspace.target_dir, target),
        tuple(mirrors),
        tuple((m[0].name, m[0].edition) for m in members),
        tuple(m[0].name for m in members if m[0].old_macros),
        tuple(line for m in members for line in m[4]),
    )


def plan_build(
    workspace: Workspace,
    settings: Mapping[str, Effective],
    *,
    cargo: Path,
    cargo_env: Mapping[str, str],
    linker: Path,
    userspace_triple: str,
    options: BuildOptions,
    environ: Mapping[str, str],
    aya_build_env: Mapping[str, str] | None = None,
    solo: frozenset[str] = frozenset(),
    ambiguous: frozenset[str] = frozenset(),
    crate_tools: Mapping[str, CrateTools] | None = None,
    every_ebpf_crate: bool = False,
    project_rustflags: ProjectFlags | None = None,
    userspace_tools: tuple[Path, Mapping[str, str]] | None = None,
) -> BuildPlan:
    """From workspace, per-crate settings and toolchain to the exact steps. Pure.

    `aya_build_env` is added to the userspace build when a userspace crate's build.rs
    uses aya-build, so the cargo it starts finds this toolchain and this bpf-linker.
    `solo`: eBPF crates whose `.cargo/config.toml` has settings of the user's; each is
    built by itself, from its directory. `ambiguous`: member names that a dependency has too.
    `crate_tools`: eBPF crates pinned to another toolchain (`[crates.NAME] toolchain`).
    `every_ebpf_crate`: a step for the crates aya-build builds too (`lint` checks their code).
    `project_rustflags`: the bpf rustflags each eBPF crate's cargo configs give it.
    `userspace_tools`: the cargo and its environment for userspace (default: `cargo`, `cargo_env`).
    """
    if options.target_dir is not None:  # `--target-dir`: objects are published under it too
        workspace = dataclasses.replace(workspace, target_dir=options.target_dir)
    selected = workspace.select(options.packages)
    # each eBPF crate compiled once: the ones aya-build builds in a userspace build.rs are
    # left to it (buildbpf steers its cargo and gates what it embeds)
    features, default = options.features, not options.no_default_features
    running = workspace.built_by_aya_build(features, default_features=default)
    aya_built = set() if every_ebpf_crate else {c.name for c in running}
    ebpf_crates = [c for c in workspace.ebpf_roots() if c.name not in aya_built]
    user_crates = workspace.userspace()
    if any(c.is_build_root for c in selected):
        ebpf_crates = [c for c in selected if c.is_build_root and c.name not in aya_built]
    if selected:
        user_crates = [c for c in selected if c in user_crates]
    if not workspace.ebpf_roots():
        raise no_ebpf_crate(workspace)
    arch = target_arch(userspace_triple)
    groups, configs = _group(ebpf_crates, settings, arch, solo, crate_tools or {},
                             project=project_rustflags or {})
    default_tools = CrateTools(cargo, cargo_env, linker)
    steps = [
        _ebpf_step(workspace, members, (crate_tools or {}).get(members[0][0].name) or default_tools,
                   ambiguous=ambiguous, environ=environ, options=options)
        for members in groups
    ]  # fmt: skip
    userspace = None
    if user_crates:
        built = {s.target for s in steps}
        wanted = host_endianness(arch)
        chosen = wanted if wanted in built or not built else sorted(built)[0]
        user_cargo, user_env = userspace_tools or (cargo, cargo_env)
        userspace = _userspace_step(workspace, user_crates, chosen, aya_built, cargo=user_cargo,
                                    cargo_env=user_env, linker=linker, options=options,
                                    environ=environ, aya_build_env=aya_build_env,
                                    ambiguous=ambiguous)  # fmt: skip
        # a config in the directory the userspace call runs from (an eBPF crate that is the
        # root package) would build userspace for bpfel with build-std: every setting of
        # the eBPF build is on its command line anyway
        runs_here = {workspace.root, *workspace.root.parents}
        configs = [c for c in configs if c.directory not in runs_here]
    publication = Publication(
        workspace.root,
        tuple(objects_dir(workspace.target_dir, t) for t in BpfTarget),
        frozenset(b for c in workspace.ebpf_roots() for b in c.bins),
    )
    return BuildPlan(tuple(configs), tuple(steps), userspace, publication=publication)
