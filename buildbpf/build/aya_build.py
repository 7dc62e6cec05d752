"""aya-build: steer the cargo a userspace build.rs starts, and gate what it embeds.

aya-build (in a userspace crate's build.rs) compiles the eBPF crates with a nested cargo:
`aya_build_environment` makes that cargo use buildbpf's toolchain and bpf-linker, and
`gate_aya_build` / `check_embedded` verify the objects it put into the binaries.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shlex
from collections.abc import Collection, Iterable, Mapping, Sequence
from pathlib import Path

from buildbpf import _fs
from buildbpf._fs import write_atomic
from buildbpf.build.layout import Published, instruction_counts
from buildbpf.build.steps import UserspaceStep
from buildbpf.cargo import messages
from buildbpf.errors import ArtifactError, BuildbpfError, FileSystemError
from buildbpf.objects import gate
from buildbpf.toolchain import Toolchain
from buildbpf.toolchain.rust import Mode

log = logging.getLogger("buildbpf")


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
    rust = toolchain.rust
    files = {
        "cargo": _CARGO_SHIM.format(cargo=shlex.quote(str(rust.cargo))),
        "rustup": _RUSTUP_SHIM,
    }
    links = {"rustc": rust.rustc, "bpf-linker": toolchain.linker.path}
    key = hashlib.sha256(repr((sorted(files.items()), sorted(links.items()))).encode()).hexdigest()[:16]
    directory = _fs.usable_cache("aya-build-shims", key)

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
            directory = _fs.scratch_cache("aya-build-shims", key, reason=str(exc))
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


def gate_aya_build(step: UserspaceStep, stdout: str) -> list[Published]:
    """Gate the objects an aya-build build.rs embedded: they must be real eBPF too.

    cargo reports `build-script-executed` (with its OUT_DIR) for fresh scripts too, so every
    embedded object is gated on every build. BTF is not required: aya-build before 0.1.3
    links without `--btf`, and Aya loads such objects. An object only aya-build compiled is
    also published for `buildbpf check`. On a rejection the userspace executables that
    embedded it are removed.
    """
    out_dirs = messages.build_script_out_dirs(stdout)
    published = []
    owners = {b: e for e, b in step.aya_built}
    for crate, bin_name in step.aya_build_objects:
        out_dir = out_dirs.get(crate)
        path = out_dir / bin_name if out_dir is not None else None
        if path is None or not path.is_file():
            continue  # aya-build built another eBPF crate than this bin
        try:
            checked = gate.gate(path, crate=f"{crate} (aya-build)", target=step.target.value, btf=False)
        except ArtifactError:
            for exe in messages.executables(stdout):
                exe.unlink(missing_ok=True)  # never leave a binary that embeds a rejected object
            raise
        data = path.read_bytes()
        published.append(
            Published(crate, step.target.value, bin_name, path, hashlib.sha256(data).hexdigest(), len(data),
                      tuple(checked.programs), checked.license, True, aya_build=True, btf=False,
                      instructions=instruction_counts(checked))
        )  # fmt: skip
        if bin_name in owners and step.objects_dir is not None:
            destination = step.objects_dir / bin_name
            changed = not destination.is_file() or destination.read_bytes() != data
            if changed:
                write_atomic(destination, data)
            published.append(
                Published(owners.pop(bin_name), step.target.value, bin_name, destination,
                          hashlib.sha256(data).hexdigest(), len(data), tuple(checked.programs),
                          checked.license, changed, path, aya_build=True, btf=False,
                          instructions=instruction_counts(checked))
            )  # fmt: skip
    return published


def _is_bpf_elf(path: Path) -> bool:
    """Whether `path` starts with the ELF header of a 64-bit eBPF object."""
    try:
        with path.open("rb") as file:
            header = file.read(20)
    except OSError:
        return False
    if len(header) < 20 or header[:4] != gate.ELF_MAGIC or header[4] != 2 or header[5] not in (1, 2):
        return False
    return int.from_bytes(header[18:20], "little" if header[5] == 1 else "big") == gate.EM_BPF


def stale_objects(places: Iterable[Path], current: Collection[str]) -> dict[str, Path]:
    """sha256 -> path of each eBPF object in `places` named after no bin of this build: what
    an earlier build left there (aya-build's OUT_DIR, cargo's output, the objects dir) for a
    bin renamed or removed since."""
    found: dict[str, Path] = {}
    for directory in dict.fromkeys(places):
        try:
            entries = sorted(directory.iterdir())
        except OSError:  # not there (yet): nothing left in it
            continue
        for path in entries:
            if path.name in current or not _fs.is_file(path) or not _is_bpf_elf(path):
                continue
            try:
                data = _fs.read_regular(path, limit=_fs.OBJECT_LIMIT, what="eBPF object")
            except BuildbpfError as error:
                log.debug("not compared with embedded objects: %s", error.message)
                continue
            found.setdefault(hashlib.sha256(data).hexdigest(), path)
    return found


def check_embedded(
    executables: list[Path],
    verified: list[Published],
    places: Sequence[Path] = (),
    current: Collection[str] = (),
) -> None:
    """Every eBPF object a userspace binary embeds is one this build verified, or is gated.

    A build.rs that compiles its own copy of an eBPF crate, or an `include_bytes!` of a
    vendored object, puts an object into the binary that buildbpf never built: say so, and
    refuse the binary when that object is not loadable eBPF, or is one an earlier build left
    in `places` for a bin that `current` (this build's bins) no longer has.
    """
    known = {o.sha256 for o in verified}
    stale: dict[str, Path] | None = None  # read only when a binary embeds an unknown object
    for exe in executables:
        try:
            embedded = gate.embedded_objects(exe)
        except (OSError, ValueError) as exc:
            log.debug("cannot read %s for embedded objects: %s", exe, exc)
            continue
        for data in embedded:
            digest = hashlib.sha256(data).hexdigest()
            if digest in known:
                continue
            if stale is None:
                stale = stale_objects(places, current)
            if (left := stale.get(digest)) is not None:
                exe.unlink(missing_ok=True)  # never leave a binary that runs an old program
                bins = ", ".join(sorted({o.bin for o in verified})) or "none"
                raise ArtifactError(
                    f"{exe} embeds {left}, an object an earlier build left there: no eBPF bin is named "
                    f"`{left.name}` now (renamed or removed?), so it is not built from the current source",
                    fix=f"embed one of this build's objects by its name now ({bins}), and build again",
                )
            target = "bpfeb" if data[5] == 2 else "bpfel"
            found = gate.inspect(exe, target=target, btf=False, data=data)
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
