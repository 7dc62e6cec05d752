"""Pure planning: from (toolchain, crate, options, environment) to the exact cargo call.

Nothing here runs a process or touches a file, so the plan can be printed
(`--print-plan`) and compared against golden files.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

# Host build settings that leak into an eBPF build and break it (shared/DESIGN.md,
# PITFALLS #4, #11): removed from the eBPF cargo's environment.
LEAKY_ENV = (
    "RUSTFLAGS",
    "CARGO_ENCODED_RUSTFLAGS",
    "CARGO_BUILD_RUSTFLAGS",
    "CARGO_BUILD_TARGET",
    "RUSTC_WRAPPER",
    "RUSTC_WORKSPACE_WRAPPER",
    "CARGO_BUILD_RUSTC_WRAPPER",
    "RUSTUP_TOOLCHAIN",
    "RUSTC",
    "RUSTDOCFLAGS",
)
_LEAKY_PATTERN = re.compile(r"^CARGO_TARGET_[A-Z0-9_]+_(LINKER|RUSTFLAGS|RUNNER)$")

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


def leaky_variables(environ: Mapping[str, str]) -> list[str]:
    """Variables present in `environ` that must not reach an eBPF cargo."""
    return sorted(k for k in environ if k in LEAKY_ENV or _LEAKY_PATTERN.match(k))


def toml_value(value: object) -> str:
    """A TOML literal for `--config key=value` (JSON strings and arrays are valid TOML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return json.dumps(value)


@dataclass(frozen=True)
class CargoCall:
    """One cargo invocation: argv, where to run it, and the environment changes."""

    argv: tuple[str, ...]
    cwd: Path
    env_set: Mapping[str, str] = field(default_factory=dict)
    env_remove: tuple[str, ...] = ()


def ebpf_rustflags(*, btf: bool, extra: tuple[str, ...] = ()) -> list[str]:
    """rustflags for the bpf target only (BTF needs both flags: PITFALLS #10)."""
    flags = ["-C", "debuginfo=2", "-C", "link-arg=--btf"] if btf else []
    return [*flags, *extra]


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
    linker_args: tuple[str, ...] = (),
    environ: Mapping[str, str] | None = None,
) -> CargoCall:
    """The cargo call that builds one eBPF crate into a linked, BTF-carrying object."""
    bpf = triple(target)
    rustflags = ebpf_rustflags(btf=btf, extra=tuple(f"-Clink-arg={a}" for a in linker_args))
    argv = [
        str(cargo),
        "build",
        "-Z",
        f"build-std={','.join(build_std)}",
        "--target",
        bpf,
        "--config",
        f"target.{bpf}.linker={toml_value(str(linker))}",
        "--config",
        f"target.{bpf}.rustflags={toml_value(rustflags)}",
    ]
    if release:
        argv.append("--release")
        for key, value in RELEASE_PROFILE:
            argv += ["--config", f"profile.release.{key}={value}"]
    else:
        argv += ["--config", 'profile.dev.panic="abort"']
    argv += ["--message-format", "json-render-diagnostics"]
    return CargoCall(
        argv=tuple(argv),
        cwd=crate_dir,
        env_set=dict(cargo_env),
        env_remove=tuple(k for k in leaky_variables(environ or {}) if k not in cargo_env),
    )


def executables_from_messages(stdout: str) -> list[Path]:
    """Executables cargo reports in its JSON messages (never guess target paths)."""
    found = []
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if message.get("reason") == "compiler-artifact" and message.get("executable"):
            found.append(Path(message["executable"]))
    return found
