"""Where verified objects are published, the record of how each was built, and publishing.

`<target-dir>/buildbpf/<bpf-triple>/<bin>`: userspace finds the objects there through
BUILDBPF_OBJECTS, and `buildbpf check` (`published_objects`) finds them there too.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf import _fs
from buildbpf._fs import write_atomic
from buildbpf.build import settings
from buildbpf.errors import ArtifactError, BuildbpfError, FileSystemError

if TYPE_CHECKING:
    from buildbpf.build.steps import EbpfStep

log = logging.getLogger("buildbpf")

# next to the published objects: how each was built, so `check` judges it as built even when
# the settings (or the environment) have changed since
BUILT_RECORD = ".buildbpf-built.json"


def objects_dir(target_dir: Path, target: settings.BpfTarget) -> Path:
    """Where verified objects of one byte order are published (honours CARGO_TARGET_DIR)."""
    return target_dir / "buildbpf" / target.triple


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
    instructions: tuple[tuple[str, int], ...] = ()  # (program function, instruction count)


def once(objects: Sequence[Published]) -> list[Published]:
    """Each object once: one that aya-build put into OUT_DIR and buildbpf published is reported
    as published (both stay in a build's JSON, with their paths)."""
    published_from = {o.source for o in objects if o.aya_build and o.source is not None}
    return [o for o in objects if o.path not in published_from]


def instruction_counts(checked: Any) -> tuple[tuple[str, int], ...]:
    """(function, instructions) of each program the gate found (a `gate.Inspection`)."""
    facts = checked.facts
    return tuple((p.function, p.instructions) for p in facts.programs) if facts is not None else ()


def record_built(objects: Sequence[Published], workspace: Path | None = None) -> None:
    """Remember, per objects dir, each published object's sha256, whether BTF was required,
    and which crate of which workspace published it (`remove_stale` trusts only that)."""
    by_dir: dict[Path, dict[str, object]] = {}
    for obj in objects:
        if obj.path.parent.parent.name == "buildbpf":  # the objects dir, not an OUT_DIR
            entry: dict[str, object] = {"sha256": obj.sha256, "btf": obj.btf, "crate": obj.crate}
            if workspace is not None:
                entry["workspace"] = str(workspace)
            by_dir.setdefault(obj.path.parent, {})[obj.bin] = entry
    for directory, entries in by_dir.items():
        _write_built(directory, {**read_built(directory), **entries})


def _write_built(directory: Path, record: Mapping[str, object]) -> None:
    _fs.write_optional(directory / BUILT_RECORD, json.dumps(record, indent=1, sort_keys=True) + "\n",
                       "the record of how objects were built")  # fmt: skip


def remove_stale(directories: Sequence[Path], workspace: Path, bins: Collection[str]) -> list[Path]:
    """Remove the objects this workspace published for bins it no longer has (renamed or
    removed), so that userspace cannot embed them (PITFALLS #7); the removed paths.

    Only what the record proves: an entry of this workspace whose file is still the bytes
    it published. A file changed since, or one another workspace sharing the target dir
    published, is left alone (`check_embedded` refuses a binary that embeds a stale one).
    """
    removed = []
    for directory in directories:
        record = read_built(directory)
        forget = []
        for name, entry in record.items():
            if name in bins or not isinstance(entry, dict) or entry.get("workspace") != str(workspace):
                continue
            path = directory / name
            if Path(name).name != name or name in (".", "..", BUILT_RECORD) or path.is_symlink():
                continue  # a record edited by hand: never a path outside the objects dir
            if not _fs.exists(path):
                forget.append(name)
            elif _fs.is_file(path) and _sha256_of(path) == entry.get("sha256"):
                try:
                    path.unlink()
                except OSError as exc:
                    raise FileSystemError.from_os(exc, "remove", path) from None
                log.info("removed %s: crate %s published it, and no eBPF bin of %s is named %s now",
                         path, entry.get("crate", "?"), workspace, name)  # fmt: skip
                removed.append(path)
                forget.append(name)
        if forget:
            _write_built(directory, {k: v for k, v in record.items() if k not in forget})
    return removed


def read_built(directory: Path) -> dict[str, Any]:
    """The record `record_built` wrote there; empty when missing or unreadable."""
    path = directory / BUILT_RECORD
    if not _fs.is_file(path):
        return {}
    try:
        data = json.loads(_fs.read_text(path, what="record"))
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
    sections_name_programs: bool = False  # aya-bpf's macros: no attach target in section names
    strict_layout: bool = False  # `layout = "strict"`: a kernel struct laid out otherwise fails


def btf_expected(effective: settings.Effective, *, aya_build: bool = False) -> tuple[bool, str]:
    """Whether an object of this crate was linked with BTF, and the setting that says so.

    aya-build (0.1.0-0.1.2) links without `--btf` whatever the settings say, so its objects
    are gated without BTF (`gate_aya_build`), and `check` agrees.
    """
    if aya_build:
        return False, "aya-build links it, without --btf before aya-build 0.1.3"
    value = effective.values["btf"]
    return bool(value.value), f"btf = {str(bool(value.value)).lower()} ({value.origin})"


def published_objects(
    cwd: Path, environ: Mapping[str, str] | None = None
) -> tuple[Path, list[ObjectToCheck]]:
    """This workspace's verified objects (not every object in a shared target dir), each with
    the BTF its crate's settings ask for, and the directory they are published under; needs
    cargo, not bpf-linker."""
    from buildbpf.build.precedence import effective, pin_from, workspace_value
    from buildbpf.cargo import metadata
    from buildbpf.cargo.workspace import from_metadata
    from buildbpf.toolchain.rust import resolve_rust

    environ = os.environ if environ is None else environ
    rust = resolve_rust(pin_from(None, cwd))
    data = metadata.cargo_metadata(rust, cwd)
    config = settings.load_config(Path(data["workspace_root"]), data.get("metadata"))
    workspace = from_metadata(data, config, metadata.outside_metadata(rust, data))
    aya_built = {c.name for c in workspace.built_by_aya_build()}
    strict = workspace_value("layout", config, environ).value == "strict"
    found = []
    for crate in workspace.ebpf_roots():
        settings_of = effective(crate.name, config, environ)
        btf, origin = btf_expected(settings_of, aya_build=crate.name in aya_built)
        kernels = tuple(settings.configured_kernels(settings_of))
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
                                               f"(as it was built, {BUILT_RECORD})", kernels,
                                               crate.old_macros, strict))  # fmt: skip
                else:
                    found.append(ObjectToCheck(path, crate.name, btf, origin, kernels, crate.old_macros,
                                               strict))  # fmt: skip
    return workspace.target_dir / "buildbpf", found


def _sha256_of(path: Path) -> str:
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def _mtime_ns(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return 0


def publish(
    step: EbpfStep, executables: list[Path], rebuilt: set[Path] | None = None, started_ns: int = 0
) -> list[Published]:
    """Gate each expected bin and copy it to the objects dir; a rejected one is removed there.

    `rebuilt`: the executables cargo linked in this run, which must be newer than the run's
    start (`started_ns`); a linker that exits 0 without writing leaves the old object there.
    """
    from buildbpf.objects import gate

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
            checked = gate.gate(exe, crate=crate, target=step.target.value, btf=step.btf, edition=edition,
                                before_0_12=crate in step.old_macros)  # fmt: skip
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
            Published(crate, step.target.value, bin_name, destination, hashlib.sha256(data).hexdigest(),
                      len(data), tuple(checked.programs), checked.license, changed, exe, btf=step.btf,
                      instructions=instruction_counts(checked))
        )  # fmt: skip
    return published
