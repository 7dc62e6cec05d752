"""The guest's side: the helper built statically to run as init, and the initramfs around it."""

from __future__ import annotations

import hashlib
import os
import shutil
import sys
import time
from pathlib import Path

from buildbpf import _fs
from buildbpf._process import run
from buildbpf.cargo.env import leaky_variables
from buildbpf.errors import ToolchainError
from buildbpf.kernels import initramfs
from buildbpf.objects.verifier import LOADER_SOURCE
from buildbpf.terminal import duration
from buildbpf.toolchain.rust import RustToolchain

TARGET = "x86_64-unknown-linux-gnu"
# Debian has no musl std; glibc links statically (getaddrinfo & co. warn, the helper uses none)
STATIC = "-C target-feature=+crt-static"
LIST = "buildbpf/objects.list"
ATTACH = "buildbpf/attach.list"
OPTIONS = "buildbpf/options"
PROBED = ("kprobe", "kretprobe", "tracepoint")  # targets looked up in kallsyms/tracefs (BTF ones: at load)


def _sources() -> list[Path]:
    return [
        LOADER_SOURCE / "Cargo.toml",
        LOADER_SOURCE / "Cargo.lock",
        *sorted((LOADER_SOURCE / "src").glob("*.rs")),
    ]


def static_helper(rust: RustToolchain) -> Path:
    """The helper linked statically (it runs as PID 1 with no libc around), built once per
    source and rustc, cached beside the host helper."""
    digest = hashlib.sha256(f"{rust.rustc_info.release} {STATIC}".encode())
    for path in _sources():
        digest.update(path.read_bytes())
    built = Path("target", TARGET, "release", "buildbpf-loader")
    home = _fs.built_cache("loader", "static-" + digest.hexdigest()[:16], what="the static verifier helper",
                           ready=lambda home: _fs.is_executable(home / built))  # fmt: skip
    binary = home / built
    if _fs.is_executable(binary):
        return binary
    for path in _sources():
        destination = home / "src" / path.relative_to(LOADER_SOURCE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    env = {k: v for k, v in rust.cargo_env().items() if k != "RUSTC_BOOTSTRAP"}
    env |= {"CARGO_TARGET_DIR": str(home / "target"), "RUSTFLAGS": STATIC}
    print("buildbpf: building the static verifier helper for the kernel VMs: a few minutes, once per "
          f"toolchain ({rust.rustc_info.release}); cargo's progress follows",
          file=sys.stderr, flush=True)  # fmt: skip
    remove = [v for v in leaky_variables(os.environ) if v != "RUSTFLAGS"]
    started = time.monotonic()
    # streamed: cargo's own lines (and its progress bar on a terminal) show what takes minutes
    run(
        [rust.cargo, "build", "--release", "--locked", "--target", TARGET,
         "--manifest-path", str(home / "src" / "Cargo.toml")],
        cwd=home / "src", env_set=env, env_remove=remove,
        stream=True, echo_stdout=False,
    )  # fmt: skip
    if not binary.is_file():
        raise ToolchainError(f"the static verifier helper was built but {binary} is missing")
    print(f"buildbpf: built the static verifier helper in {duration(time.monotonic() - started)}; "
          f"kept in {home} for the next runs", file=sys.stderr, flush=True)  # fmt: skip
    return binary


def attach_list(sections: list[dict[str, str]]) -> str:
    """`OBJECT<TAB>FUNCTION<TAB>KIND<TAB>TARGET` lines for the guest, from each object's
    FUNCTION -> section."""
    lines = []
    for index, by_function in enumerate(sections):
        for function, section in by_function.items():
            kind, _, target = section.partition("/")
            if kind in PROBED and target:
                lines.append(f"/buildbpf/objects/{index}.o\t{function}\t{kind}\t{target}\n")
    return "".join(lines)


def initrd(
    helper: Path,
    objects: list[tuple[Path, dict[str, str]]],
    sections: list[dict[str, str]] | None = None,
    *,
    full_log: bool = False,
) -> bytes:
    """The newc archive: the helper as /init, the objects, and the list of what to load.

    `objects`: each object with its FUNCTION -> ATTACH_TARGET arguments; `sections`: each
    object's FUNCTION -> section, for the attach targets the guest looks up; `full_log`: send
    whole verifier logs, not their last 4000 characters.
    """
    files: dict[str, tuple[bytes, int]] = {"init": (helper.read_bytes(), 0o755)}
    lines = []
    for index, (obj, targets) in enumerate(objects):
        name = f"buildbpf/objects/{index}.o"
        files[name] = (obj.read_bytes(), 0o644)
        lines.append("\t".join([f"/{name}", *(f"{k}={v}" for k, v in targets.items())]))
    files[LIST] = ("".join(f"{line}\n" for line in lines).encode(), 0o644)
    files[ATTACH] = (attach_list(sections or []).encode(), 0o644)
    files[OPTIONS] = (b"full-log\n" if full_log else b"", 0o644)
    mount_points = [initramfs.Entry(d, 0o755) for d in ("dev", "proc", "sys")]
    return initramfs.archive(mount_points + initramfs.with_parents(files))
