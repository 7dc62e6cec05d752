"""`check --load`: run every program of an object through the running kernel's verifier.

Aya objects use the legacy `maps` section that libbpf (and so bpftool) refuse, so the
loading is done by Aya itself: `buildbpf/_loader`, a small Rust program shipped with
buildbpf, built on first use with the resolved toolchain and cached by content. It pins
nothing; the kernel frees every program and map when it exits, however it exits.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from buildbpf import kernel, paths
from buildbpf.errors import KernelError, ToolchainError
from buildbpf.plan import leaky_variables
from buildbpf.run import run
from buildbpf.toolchain import RustToolchain

LOADER_SOURCE = Path(__file__).parent / "_loader"
# section prefixes whose suffix is the BTF attach target the kernel needs at load time
TARGET_PREFIXES = ("fentry/", "fexit/", "fmod_ret/", "lsm/", "lsm_cgroup/", "tp_btf/", "iter/")


@dataclass(frozen=True)
class ProgramLoad:
    """What the kernel said about one program."""

    name: str
    type: str
    ok: bool
    error: str | None = None
    verifier_log: str | None = None
    translated_insns: int | None = None
    verified_insns: int | None = None
    jited_bytes: int | None = None


def _source_files() -> list[Path]:
    return [LOADER_SOURCE / "Cargo.toml", LOADER_SOURCE / "Cargo.lock", LOADER_SOURCE / "src" / "main.rs"]


def loader_binary(rust: RustToolchain) -> Path:
    """The helper binary for this toolchain, built once and cached by source + rustc version."""
    digest = hashlib.sha256(rust.rustc_info.release.encode())
    for path in _source_files():
        digest.update(path.read_bytes())
    home = paths.usable_cache("loader", digest.hexdigest()[:16])
    binary = home / "target" / "release" / "buildbpf-loader"
    if binary.is_file():
        return binary
    source = home / "src"
    for path in _source_files():
        destination = source / path.relative_to(LOADER_SOURCE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    env = {k: v for k, v in rust.cargo_env().items() if k != "RUSTC_BOOTSTRAP"}
    env["CARGO_TARGET_DIR"] = str(home / "target")
    # stderr only: stdout may be `check --json`
    print("buildbpf: building the verifier helper (once per toolchain)", file=sys.stderr, flush=True)
    run(
        [rust.cargo, "build", "--release", "--locked", "--manifest-path", str(source / "Cargo.toml")],
        env_set=env,
        env_remove=leaky_variables(os.environ),
        echo_stdout=False,
    )
    if not binary.is_file():
        raise ToolchainError(f"the verifier helper was built but {binary} is missing")
    return binary


def require_privilege() -> None:
    """A clear KernelError instead of EPERM from deep inside the loader."""
    if not kernel.can_load_by_capabilities(kernel.effective_capabilities(), os.geteuid()):
        raise KernelError(
            "loading programs into the kernel needs root or CAP_BPF+CAP_PERFMON",
            fix="run `sudo buildbpf check --load`, or check without --load",
        )


def attach_targets(sections: dict[str, str]) -> list[str]:
    """`FUNCTION=TARGET` arguments for programs whose section names their BTF target."""
    found = []
    for function, section in sections.items():
        for prefix in TARGET_PREFIXES:
            if section.startswith(prefix) and len(section) > len(prefix):
                found.append(f"{function}={section[len(prefix) :]}")
    return found


def parse_output(stdout: str) -> tuple[list[ProgramLoad], str | None]:
    """The helper's JSON lines: per-program results, or an object-level error."""
    loads: list[ProgramLoad] = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        data = json.loads(line)
        if "object_error" in data:
            return loads, str(data["object_error"])
        loads.append(
            ProgramLoad(
                name=data["name"],
                type=data["type"],
                ok=bool(data["ok"]),
                error=data.get("error"),
                verifier_log=data.get("verifier_log"),
                translated_insns=data.get("translated_insns"),
                verified_insns=data.get("verified_insns"),
                jited_bytes=data.get("jited_bytes"),
            )
        )
    return loads, None


def load_object(
    binary: Path, obj: Path, sections: dict[str, str], extra_targets: dict[str, str] | None = None
) -> tuple[list[ProgramLoad], str | None]:
    """Load every program of `obj` with the helper; the kernel keeps nothing afterwards.

    `extra_targets` (FUNCTION -> TARGET, from the command line) win over section names.
    """
    targets = [*attach_targets(sections), *(f"{k}={v}" for k, v in (extra_targets or {}).items())]
    done = run([binary, str(obj), *targets], echo=False, stream=False, check=False, timeout=300)
    loads, object_error = parse_output(done.stdout)
    if object_error is None and not loads and done.returncode != 0:
        object_error = (done.stderr.strip() or f"the verifier helper exited with {done.returncode}")[:2000]
    return loads, object_error
