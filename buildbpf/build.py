"""`buildbpf build`: load the workspace, plan, write configs, build eBPF, gate, build userspace."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shlex
import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from buildbpf import artifact, cargo_config, files, gitdeps, settings
from buildbpf.advice import cargo_failure
from buildbpf.errors import ArtifactError, BuildbpfError, ConfigError, FileSystemError
from buildbpf.files import write_atomic
from buildbpf.plan import (
    BuildOptions,
    BuildPlan,
    CargoCall,
    CrateTools,
    EbpfStep,
    UserspaceStep,
    executables_from_messages,
    make_plan,
    rebuilt_executables,
)
from buildbpf.run import Completed, run
from buildbpf.toolchain import (
    LINKER_VARIABLE,
    Mode,
    Pin,
    RustToolchain,
    Toolchain,
    pin_from,
    resolve_linker,
    resolve_rust,
)
from buildbpf.workspace import Workspace, from_metadata, outside_candidates, parse_metadata

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
    cargo_timeout: float = settings.DEFAULT_CARGO_TIMEOUT  # seconds, per cargo call
    ambiguous: frozenset[str] = frozenset()  # member names a locked dependency has too
    # eBPF crates pinned to another toolchain than the workspace's ([crates.NAME] toolchain)
    crate_toolchains: Mapping[str, Toolchain] = field(default_factory=dict)


@dataclass(frozen=True)
class Published:
    """A verified object and where userspace finds it."""

    crate: str
    target: str
    bin: str
    path: Path
    sha256: str
    size: int
    programs: tuple[str, ...]
    license: str | None
    changed: bool
    source: Path | None = None  # what cargo built, for eBPF crates built by buildbpf
    aya_build: bool = False  # linked by aya-build in a build.rs, not by buildbpf's own call
    btf: bool = True  # gated with BTF required (the crate's `btf` setting; never for aya-build)


# next to the published objects: how each was built, so `check` judges it as built even when
# the settings (or the environment) have changed since
BUILT_RECORD = ".buildbpf-built.json"


def record_built(objects: Sequence[Published]) -> None:
    """Remember, per objects dir, each published object's sha256 and whether BTF was required."""
    by_dir: dict[Path, dict[str, object]] = {}
    for obj in objects:
        if obj.path.parent.parent.name == "buildbpf":  # the objects dir, not an OUT_DIR
            by_dir.setdefault(obj.path.parent, {})[obj.bin] = {"sha256": obj.sha256, "btf": obj.btf}
    for directory, entries in by_dir.items():
        record = {**read_built(directory), **entries}
        files.write_optional(directory / BUILT_RECORD, json.dumps(record, indent=1, sort_keys=True) + "\n",
                             "the record of how objects were built")  # fmt: skip


def read_built(directory: Path) -> dict[str, Any]:
    """The record `record_built` wrote there; empty when missing or unreadable."""
    path = directory / BUILT_RECORD
    if not files.is_file(path):
        return {}
    try:
        data = json.loads(files.read_text(path, what="record"))
    except (BuildbpfError, ValueError) as exc:
        log.debug("ignoring %s: %s", path, exc)
        return {}
    return data if isinstance(data, dict) else {}


@dataclass(frozen=True)
class ObjectToCheck:
    """A published object and whether `check` requires BTF of it, as its build did."""

    path: Path
    crate: str
    btf: bool
    btf_origin: str  # why: `btf = false (buildbpf.toml:4 crates.x-ebpf.btf)`, aya-build, ...
    kernels: tuple[str, ...] = ()  # `kernels` and `min_kernel` of its crate's settings


def btf_expected(effective: settings.Effective, *, aya_build: bool = False) -> tuple[bool, str]:
    """Whether an object of this crate was linked with BTF, and the setting that says so.

    aya-build (0.1.0-0.1.2) links without `--btf` whatever the settings say, so its objects
    are gated without BTF (`gate_aya_build`), and `check` agrees.
    """
    if aya_build:
        return False, "aya-build links it, without --btf before aya-build 0.1.3"
    value = effective.values["btf"]
    return bool(value.value), f"btf = {str(bool(value.value)).lower()} ({value.origin})"


@dataclass
class Result:
    """What a build did."""

    configs: list[cargo_config.Outcome] = field(default_factory=list)
    objects: list[Published] = field(default_factory=list)
    userspace: tuple[str, ...] = ()

    def as_json(self) -> dict[str, Any]:
        return {
            "configs": [{"path": str(c.path), "status": str(c.status)} for c in self.configs],
            "objects": [
                {
                    "crate": o.crate,
                    "target": o.target,
                    "bin": o.bin,
                    "path": str(o.path),
                    "sha256": o.sha256,
                    "size": o.size,
                    "programs": list(o.programs),
                    "license": o.license,
                }
                for o in self.objects
            ],
            "userspace": list(self.userspace),
        }


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
    if done.returncode != 0:
        raise ConfigError(
            f"cargo metadata failed in {cwd}:\n{cargo_message(done.stderr)}",
            fix="run buildbpf inside a cargo workspace, or fix the Cargo.toml it names",
        )
    return parse_metadata(done.stdout)


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


def published_objects(
    cwd: Path, environ: Mapping[str, str] | None = None
) -> tuple[Path, list[ObjectToCheck]]:
    """This workspace's verified objects (not every object in a shared target dir), each with
    the BTF its crate's settings ask for, and the directory they are published under; needs
    cargo, not bpf-linker."""
    from buildbpf.plan import objects_dir

    environ = os.environ if environ is None else environ
    rust = resolve_rust(pin_from(None, cwd))
    data = cargo_metadata(rust, cwd)
    config = settings.load_config(Path(data["workspace_root"]), data.get("metadata"))
    workspace = from_metadata(data, config, outside_metadata(rust, data))
    aya_built = {c.name for c in workspace.built_by_aya_build()}
    found = []
    for crate in workspace.ebpf_roots():
        effective = settings.effective(crate.name, config, environ)
        btf, origin = btf_expected(effective, aya_build=crate.name in aya_built)
        kernels = tuple(settings.configured_kernels(effective))
        for target in settings.BpfTarget:
            built = read_built(objects_dir(workspace.target_dir, target))
            for name in crate.bins:
                path = objects_dir(workspace.target_dir, target) / name
                if not path.is_file():
                    continue
                entry = built.get(name)
                if isinstance(entry, dict) and entry.get("sha256") == _sha256_of(path):
                    as_built = bool(entry.get("btf"))
                    found.append(ObjectToCheck(path, crate.name, as_built, f"btf = {str(as_built).lower()} "
                                               f"(as it was built, {BUILT_RECORD})", kernels))  # fmt: skip
                else:
                    found.append(ObjectToCheck(path, crate.name, btf, origin, kernels))
    return workspace.target_dir / "buildbpf", found


def _sha256_of(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def load(cwd: Path, overrides: settings.Overrides, environ: Mapping[str, str]) -> Context:
    """Resolve the toolchain, read the workspace and its config, and merge settings."""
    pin = pin_from(overrides.toolchain, cwd)
    rust = resolve_rust(pin)
    data = cargo_metadata(rust, cwd)
    config = settings.load_config(Path(data["workspace_root"]), data.get("metadata"))
    if config.ignored is not None:
        log.warning("%s wins; [workspace.metadata.buildbpf] in %s is ignored", config.path, config.ignored)
    explicit_pin = overrides.toolchain or environ.get("BUILDBPF_TOOLCHAIN")
    if config.model.toolchain and not explicit_pin and (pin is None or pin.name != config.model.toolchain):
        rust = resolve_rust(Pin(config.model.toolchain, config.origin("toolchain")))
    # the linker is looked for once the config is read: its `bpf_linker` counts as much as the
    # toolchain pin (--bpf-linker > BUILDBPF_BPF_LINKER > the file)
    linker, origin = linker_setting(config, overrides, environ)
    toolchain = Toolchain(rust, resolve_linker(rust.llvm_major, linker, origin).require())
    outside = outside_metadata(toolchain.rust, data)
    workspace = from_metadata(data, config, outside)
    effective = {c.name: settings.effective(c.name, config, environ, overrides) for c in workspace.crates}
    roots = tuple(dict.fromkeys(Path(d["workspace_root"]) for d in [data, *outside]))
    urls = tuple(gitdeps.git_sources([data, *outside]))
    timeout = settings.cargo_timeout(config, environ).value
    ambiguous = locked_duplicates(roots) & {c.name for c in workspace.crates}
    requested = explicit_pin or config.model.toolchain
    per_crate = crate_toolchains(workspace, effective, requested, (linker, origin))
    return Context(workspace, config, effective, toolchain, urls, roots, timeout, frozenset(ambiguous),
                   per_crate)  # fmt: skip


def crate_toolchains(
    workspace: Workspace,
    effective: Mapping[str, settings.Effective],
    requested: str | None,
    linker: tuple[str | None, str],
) -> dict[str, Toolchain]:
    """The eBPF crates whose `toolchain` setting names another toolchain than the workspace's,
    each resolved strictly (the user named it) with a bpf-linker for its LLVM."""
    found: dict[str, Toolchain] = {}
    resolved: dict[str, Toolchain] = {}
    for crate in workspace.ebpf_roots():
        value = effective[crate.name].values["toolchain"]
        if value.value is None or value.value == requested:
            continue
        if value.value not in resolved:
            rust = resolve_rust(Pin(value.value, value.origin))
            found_linker = resolve_linker(rust.llvm_major, *linker).require()
            resolved[value.value] = Toolchain(rust, found_linker)
        found[crate.name] = resolved[value.value]
        log.debug("%s builds with %s (%s)", crate.name, value.value, value.origin)
    return found


def _optional_toml(path: Path, what: str) -> dict[str, Any]:
    """A TOML file buildbpf only reads for hints: empty when missing or unreadable (cargo, which
    reads it too, reports what is wrong with it)."""
    if not files.is_file(path):
        return {}
    try:
        return files.load_toml(path, what=what)[0]
    except ConfigError as error:
        log.debug("%s: %s", path, error.message)
        return {}


def locked_duplicates(roots: Iterable[Path]) -> set[str]:
    """Package names that Cargo.lock holds more than once (a member and a dependency)."""
    from collections import Counter

    found: set[str] = set()
    for root in roots:
        packages = _optional_toml(root / "Cargo.lock", "Cargo.lock").get("package")
        if isinstance(packages, list):
            names = Counter(p.get("name") for p in packages if isinstance(p, dict))
            found |= {n for n, count in names.items() if isinstance(n, str) and count > 1}
    return found


def linker_setting(
    config: settings.LoadedConfig, overrides: settings.Overrides, environ: Mapping[str, str]
) -> tuple[str | None, str]:
    """The bpf-linker the user named and who named it: --bpf-linker > env > `bpf_linker` in
    the config file (relative to the file's directory, as cargo reads paths in its config)."""
    if overrides.bpf_linker:
        return overrides.bpf_linker, "--bpf-linker"
    if env := environ.get(LINKER_VARIABLE):
        return env, LINKER_VARIABLE
    if config.model.bpf_linker and config.path is not None:
        return str(config.path.parent / config.model.bpf_linker), config.origin("bpf_linker")
    return None, "--bpf-linker"


def prepare_sources(context: Context) -> None:
    """Fetch git dependencies with another cargo when the build cargo cannot (PITFALLS #27)."""
    if context.git_urls:
        rust = context.toolchain.rust
        gitdeps.prefetch(rust.cargo, rust.rustc, context.cargo_roots, list(context.git_urls))


_CARGO_SHIM = """#!/bin/sh
# buildbpf: aya-build 0.1.0-0.1.2 runs `cargo +nightly ...`; use the toolchain buildbpf chose
case "$1" in +*) shift ;; esac
exec {cargo} "$@"
"""
_RUSTUP_SHIM = """#!/bin/sh
# buildbpf: aya-build 0.1.3+ runs `rustup run <toolchain> cargo|rustc ...`; use the toolchain
# buildbpf chose (one with rust-src), whatever <toolchain> names
if [ "$1" = run ] && [ $# -ge 3 ]; then
  shift 2; tool=$1; shift
  exec "$(dirname "$0")/$tool" "$@"
fi
echo "buildbpf's rustup stand-in (for aya-build) only knows 'rustup run TOOLCHAIN COMMAND'" >&2
exit 1
"""


def aya_build_shims(toolchain: Toolchain) -> Path:
    """A directory that makes aya-build's nested cargo use this toolchain and bpf-linker.

    aya-build hard-codes `cargo +nightly` (0.1.0-0.1.2) or `rustup run nightly cargo`
    (0.1.3+, 0.2.x when rustup is on PATH): a nightly that may lack rust-src, or not exist.
    First on PATH: `cargo`/`rustup` stand-ins that run the chosen toolchain, `rustc` and
    `bpf-linker` links. Content-addressed under the cache; created when missing.
    """
    from buildbpf import paths

    rust = toolchain.rust
    files = {
        "cargo": _CARGO_SHIM.format(cargo=shlex.quote(str(rust.cargo))),
        "rustup": _RUSTUP_SHIM,
    }
    links = {"rustc": rust.rustc, "bpf-linker": toolchain.linker.path}
    key = hashlib.sha256(repr((sorted(files.items()), sorted(links.items()))).encode()).hexdigest()[:16]
    directory = paths.usable_cache("aya-build-shims", key)

    def fill(directory: Path) -> None:
        for name, text in files.items():
            write_atomic(directory / name, text)
            (directory / name).chmod(0o755)
        for name, target in links.items():
            (directory / name).unlink(missing_ok=True)
            (directory / name).symlink_to(target)

    if not all((directory / name).exists() for name in [*files, *links]):
        try:
            fill(directory)
        except (OSError, FileSystemError) as exc:  # a full disk: the shims are needed, the cache is not
            directory = paths.scratch_cache("aya-build-shims", key, reason=str(exc))
            fill(directory)
    return directory


def aya_build_environment(toolchain: Toolchain, environ: Mapping[str, str]) -> dict[str, str]:
    """What a build.rs running aya-build needs to use this toolchain and bpf-linker.

    The shims (above) come first on PATH; `RUSTC_BOOTSTRAP=1` makes aya-build 0.2 pass
    `-Z build-std` to a stable rustc that has rust-src.
    """
    shims = aya_build_shims(toolchain)
    rest = [d for d in environ.get("PATH", "").split(os.pathsep) if d]
    env = {"PATH": os.pathsep.join(dict.fromkeys([str(shims), *rest]))}
    if toolchain.rust.mode is Mode.BOOTSTRAP:
        env["RUSTC_BOOTSTRAP"] = "1"
    return env


def userspace_triple(root: Path, environ: Mapping[str, str], host: str) -> str:
    """The target cargo builds userspace for: what `bpf_target_arch` and byte order follow.

    As cargo decides: CARGO_BUILD_TARGET, else `build.target` in the first `.cargo/config.toml`
    from the workspace root upwards, then cargo's home; else the host. A target spec file
    (`path/to/x.json`) counts by its name.
    """
    from buildbpf import paths

    def named(value: object, origin: str) -> str | None:
        if isinstance(value, list):
            if len(value) > 1:
                names = ", ".join(map(str, value))
                log.warning("%s names several targets (%s): eBPF follows the first", origin, names)
            value = value[0] if value else None
        if not isinstance(value, str) or not value or value.startswith("bpf"):
            return None  # a bpf target there is for the eBPF crates, not for userspace
        return Path(value).stem if value.endswith(".json") else value

    if triple := named(environ.get("CARGO_BUILD_TARGET"), "CARGO_BUILD_TARGET"):
        return triple
    directories = [root, *root.parents]
    configs = [d / ".cargo" / name for d in directories for name in cargo_config.CONFIG_NAMES]
    configs += [paths.cargo_home() / name for name in cargo_config.CONFIG_NAMES]
    for config in configs:
        build = _optional_toml(config, "cargo configuration").get("build")
        if isinstance(build, dict) and (triple := named(build.get("target"), f"{config}: build.target")):
            return triple
    return host


def plan_for(context: Context, options: BuildOptions, environ: Mapping[str, str]) -> BuildPlan:
    """The build plan for a loaded context."""
    rust = context.toolchain.rust
    solo = frozenset(
        crate.name
        for crate in context.workspace.ebpf_roots()
        if cargo_config.has_user_settings(crate.directory)
    )
    return make_plan(
        context.workspace,
        context.effective,
        cargo=rust.cargo,
        cargo_env=rust.cargo_env(),
        linker=context.toolchain.linker.path,
        userspace_triple=userspace_triple(context.workspace.root, environ, rust.rustc_info.host),
        options=options,
        environ=environ,
        aya_build_env=aya_build_environment(context.toolchain, environ),
        solo=solo,
        ambiguous=context.ambiguous,
        crate_tools={
            name: CrateTools(t.rust.cargo, t.rust.cargo_env(), t.linker.path)
            for name, t in context.crate_toolchains.items()
        },
    )


def _cargo(call: CargoCall, what: str, timeout: float) -> Completed:
    done = run(
        call.argv,
        cwd=call.cwd,
        env_set=call.env_set,
        env_remove=call.env_remove,
        echo_stdout=False,  # JSON messages; the human output is on stderr
        check=False,
        timeout=timeout,
    )
    if done.returncode != 0:
        raise cargo_failure(what, done.returncode, done.stdout + done.stderr)
    return done


def tracked_by_git(path: Path) -> bool:
    """Whether `path` exists and is in its git repository's index."""
    import shutil

    git = shutil.which("git")
    if git is None or not path.is_file():
        return False
    done = run([git, "ls-files", "--error-unmatch", "--", path.name], cwd=path.parent,
               echo=False, stream=False, check=False)  # fmt: skip
    return done.returncode == 0


def publish(
    step: EbpfStep, executables: list[Path], rebuilt: set[Path] | None = None, started_ns: int = 0
) -> list[Published]:
    """Gate each expected bin and copy it to the objects dir; a rejected one is removed there.

    `rebuilt`: the executables cargo linked in this run, which must be newer than the run's
    start (`started_ns`); a linker that exits 0 without writing leaves the old object there.
    """
    by_name = {exe.name: exe for exe in executables}
    published = []
    for crate, bin_name in step.bins:
        destination = step.objects_dir / bin_name
        exe = by_name.get(bin_name)
        if exe is None:
            destination.unlink(missing_ok=True)
            raise ArtifactError(
                f"crate {crate}: cargo reported no executable for bin `{bin_name}` ({step.target.triple})",
                fix="check the crate's [[bin]] targets and that the build produced them",
            )
        try:
            if rebuilt and exe in rebuilt and _mtime_ns(exe) < started_ns:
                raise ArtifactError(
                    f"crate {crate}: cargo linked bin `{bin_name}` again, but {exe} is older than this "
                    "build: the linker (bpf-linker) exited 0 without writing its output",
                    fix="check the linker (`buildbpf doctor`) and rebuild; the old object is not published",
                )
            edition = dict(step.editions).get(crate)
            checked = artifact.gate(exe, crate=crate, target=step.target.value, btf=step.btf, edition=edition)
        except ArtifactError:
            destination.unlink(missing_ok=True)  # never leave a stale object for userspace (PITFALLS #7)
            raise
        data = exe.read_bytes()
        changed = not destination.is_file() or destination.read_bytes() != data
        if changed:
            write_atomic(destination, data)
        for mirror in step.mirror_dirs:
            copy = mirror / bin_name
            if not copy.is_file() or copy.read_bytes() != data:
                write_atomic(copy, data)
                log.info("left the verified object where %s's userspace expects it: %s", crate, copy)
        published.append(
            Published(
                crate,
                step.target.value,
                bin_name,
                destination,
                hashlib.sha256(data).hexdigest(),
                len(data),
                tuple(checked.programs),
                checked.license,
                changed,
                exe,
                btf=step.btf,
            )
        )
    return published


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def package_name(package_id: str) -> str:
    """`path+file:///ws/a#b@0.1.0` -> b; `path+file:///ws/a#0.1.0` -> a (name = directory)."""
    url, _, fragment = package_id.rpartition("#")
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return url.rstrip("/").rsplit("/", 1)[-1]


def build_script_out_dirs(stdout: str) -> dict[str, Path]:
    """OUT_DIR of each package's build script, from cargo's JSON messages."""
    found = {}
    for line in stdout.splitlines():
        if '"build-script-executed"' not in line:
            continue
        message = json.loads(line)
        found[package_name(message["package_id"])] = Path(message["out_dir"])
    return found


def gate_aya_build(step: UserspaceStep, stdout: str) -> list[Published]:
    """Gate the objects an aya-build build.rs embedded: they must be real eBPF too.

    cargo reports `build-script-executed` (with its OUT_DIR) for fresh scripts too, so every
    embedded object is gated on every build. BTF is not required: aya-build before 0.1.3
    links without `--btf`, and Aya loads such objects. An object only aya-build compiled is
    also published for `buildbpf check`. On a rejection the userspace executables that
    embedded it are removed.
    """
    out_dirs = build_script_out_dirs(stdout)
    published = []
    owners = {b: e for e, b in step.aya_built}
    for crate, bin_name in step.aya_build_objects:
        out_dir = out_dirs.get(crate)
        path = out_dir / bin_name if out_dir is not None else None
        if path is None or not path.is_file():
            continue  # aya-build built another eBPF crate than this bin
        try:
            checked = artifact.gate(path, crate=f"{crate} (aya-build)", target=step.target.value, btf=False)
        except ArtifactError:
            for exe in executables_from_messages(stdout):
                exe.unlink(missing_ok=True)  # never leave a binary that embeds a rejected object
            raise
        data = path.read_bytes()
        published.append(
            Published(crate, step.target.value, bin_name, path, hashlib.sha256(data).hexdigest(), len(data),
                      tuple(checked.programs), checked.license, True, aya_build=True, btf=False)
        )  # fmt: skip
        if bin_name in owners and step.objects_dir is not None:
            destination = step.objects_dir / bin_name
            changed = not destination.is_file() or destination.read_bytes() != data
            if changed:
                write_atomic(destination, data)
            published.append(
                Published(owners.pop(bin_name), step.target.value, bin_name, destination,
                          hashlib.sha256(data).hexdigest(), len(data), tuple(checked.programs),
                          checked.license, changed, path, aya_build=True, btf=False)
            )  # fmt: skip
    return published


def check_embedded(executables: list[Path], verified: list[Published]) -> None:
    """Every eBPF object a userspace binary embeds is one this build verified, or is gated.

    A build.rs that compiles its own copy of an eBPF crate, or an `include_bytes!` of a
    vendored object, puts an object into the binary that buildbpf never built: say so, and
    refuse the binary when that object is not loadable eBPF.
    """
    known = {o.sha256 for o in verified}
    for exe in executables:
        try:
            embedded = artifact.embedded_objects(exe)
        except (OSError, ValueError) as exc:
            log.debug("cannot read %s for embedded objects: %s", exe, exc)
            continue
        for data in embedded:
            digest = hashlib.sha256(data).hexdigest()
            if digest in known:
                continue
            target = "bpfeb" if data[5] == 2 else "bpfel"
            found = artifact.inspect(exe, target=target, btf=False, data=data)
            if found.problems:
                exe.unlink(missing_ok=True)  # never leave a binary that embeds a rejected object
                raise ArtifactError(
                    f"{exe} embeds an eBPF object that buildbpf did not build (sha256 {digest[:16]}), "
                    f"and it is not loadable eBPF: {'; '.join(p.what for p in found.problems)}",
                    fix="embed the object buildbpf verified (its path is in BUILDBPF_OBJECTS at compile "
                    "time); a build.rs that compiles the eBPF crate itself or a vendored object bypasses it",
                )
            known.add(digest)
            log.warning(
                "%s embeds an eBPF object that buildbpf did not build (sha256 %s, programs: %s): a "
                "build.rs or include_bytes! supplies its own; buildbpf checked it is eBPF, but the "
                "verified objects are the ones in BUILDBPF_OBJECTS",
                exe, digest[:16], ", ".join(found.programs) or "none",
            )  # fmt: skip


def execute(
    plan: BuildPlan, *, dry_run: bool = False, timeout: float = settings.DEFAULT_CARGO_TIMEOUT
) -> Result:
    """Write configs, build and gate every eBPF crate, then build userspace (each cargo call
    stopped after `timeout` seconds)."""
    result = Result()
    for step in plan.configs:
        path = step.directory / ".cargo" / cargo_config.CONFIG_NAMES[0]
        if tracked_by_git(path):
            # a committed config stays as the project wrote it (PITFALLS #28): every setting
            # buildbpf needs is on its command line anyway
            log.info("%s is tracked by git: left as it is (buildbpf passes its settings to cargo)", path)
            continue
        outcome = cargo_config.apply(step.directory, step.keys, dry_run=dry_run)
        result.configs.append(outcome)
        if outcome.status is not cargo_config.Status.UNCHANGED and not dry_run:
            log.info("%sd %s", outcome.status, outcome.path)
        for kept in outcome.kept_user_values:
            # not a problem (the command line wins), and aya-template's own config has one
            log.info(
                "%s: keeping your %s; buildbpf passes its own value on the command line", outcome.path, kept
            )
    if dry_run:
        return result
    from buildbpf import paths

    warned: set[Path] = set()
    for ebpf in plan.ebpf:
        unused = cargo_config.unused_bpf_rustflags(ebpf.call.cwd, paths.cargo_home(), [ebpf.target.triple])
        for config, flags in unused:
            if config not in warned:
                warned.add(config)
                log.warning(
                    "%s: rustflags for %s (%s) are not used: buildbpf passes its own flags in "
                    "CARGO_ENCODED_RUSTFLAGS, which wins over config files; to keep extra ones, put "
                    "them in buildbpf.toml (`rustflags = [...]` under [defaults] or [crates.NAME])",
                    config, ebpf.target.triple, " ".join(flags),
                )  # fmt: skip
        # file times come from the kernel's coarse clock, up to a tick behind time.time_ns()
        started_ns = time.time_ns() - 20_000_000
        done = _cargo(ebpf.call, ebpf.what, timeout)
        rebuilt = rebuilt_executables(done.stdout)
        result.objects += publish(ebpf, executables_from_messages(done.stdout), rebuilt, started_ns)
    record_built(result.objects)
    if plan.userspace is not None:
        done = _cargo(plan.userspace.call, plan.userspace.what, timeout)
        result.userspace = plan.userspace.crates
        result.objects += gate_aya_build(plan.userspace, done.stdout)
        record_built(result.objects)
        check_embedded(executables_from_messages(done.stdout), result.objects)
    return result


def replay_inputs(context: Context, cwd: Path) -> list[str]:
    """Every file whose change could change the plan: what a no-op replay must stat first.

    Missing files count too (one that appears later, such as a rust-toolchain.toml or a
    bpf-linker earlier in PATH, changes the plan).
    """
    import buildbpf
    from buildbpf import paths
    from buildbpf.cargo_config import CONFIG_NAMES
    from buildbpf.toolchain import TOOLCHAIN_FILES, resolution_inputs

    workspace = context.workspace
    files: list[Path] = [workspace.root / "Cargo.lock", workspace.root / "buildbpf.toml"]
    # where cargo finds the workspace and its config, and rustup a toolchain pin
    for start in dict.fromkeys([cwd, workspace.root, *(c.manifest.parent for c in workspace.crates)]):
        for directory in (start, *start.parents):
            files += [directory / "Cargo.toml", *(directory / name for name in TOOLCHAIN_FILES)]
            files += [directory / ".cargo" / name for name in CONFIG_NAMES]
    files += [c.manifest for c in workspace.crates]
    # a new member under a glob such as `crates/*`
    files += [c.manifest.parent.parent for c in workspace.crates if c.manifest.parent != workspace.root]
    files += [paths.cargo_home() / name for name in CONFIG_NAMES]
    for toolchain in (context.toolchain, *context.crate_toolchains.values()):
        files += resolution_inputs(toolchain)
    # buildbpf itself: an upgrade may plan differently
    files += sorted(Path(buildbpf.__file__).parent.glob("*.py"))
    return [str(f) for f in dict.fromkeys(files)]


def replay_calls(plan: BuildPlan, result: Result) -> list[dict[str, object]]:
    """The cargo calls of a finished build, as the replay record keeps them."""
    from buildbpf import replay

    def record(call: CargoCall, what: str, gate: bool, outputs: list[str]) -> dict[str, object]:
        return replay.call_record(
            argv=call.argv, cwd=str(call.cwd), env_set=call.env_set, env_remove=call.env_remove,
            echo=call.shell_line(), what=what, gate=gate, outputs=outputs,
        )  # fmt: skip

    calls = []
    for step in plan.ebpf:
        objects = [o for o in result.objects if o.crate in step.crates and o.target == step.target.value]
        outputs = [str(p) for o in objects for p in (o.source, o.path) if p is not None]
        calls.append(record(step.call, step.what, True, outputs))
    if plan.userspace is not None:
        user = plan.userspace
        # gated: a rebuilt binary may embed an object this build did not verify
        calls.append(record(user.call, user.what, True, []))
    return calls
