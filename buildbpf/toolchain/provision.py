"""`buildbpf setup`: install what an eBPF build needs and can be installed without root.

The plan is data (`Step`s); `--dry-run` prints it, a normal run executes it. What
buildbpf cannot do itself (distro packages) is printed as the exact command. A
second run finds everything in place and does nothing.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from buildbpf import _fs
from buildbpf._process import run
from buildbpf.errors import BuildbpfError, NamedToolError, SetupError, ToolchainError
from buildbpf.toolchain.linker import resolve_linker
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import RustToolchain, resolve_rust, rustup_toolchains

# The bpf-linker release buildbpf installs by default: it has the llvm-21/22/23
# features. Override with `buildbpf setup --bpf-linker-version`.
BPF_LINKER_VERSION = "0.13.0"

DEBIAN_RUST = "apt-get install rustc-web cargo-web rust-web-src"


@dataclass(frozen=True)
class Step:
    """One thing setup does (argv) or tells the user to do (manual)."""

    what: str
    argv: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    manual: bool = False

    def render(self) -> str:
        prefix = "run yourself: " if self.manual else ""
        env = " ".join(f"{k}={v}" for k, v in sorted(self.env.items()))
        command = " ".join(self.argv)
        return f"{self.what}\n    {prefix}{env + ' ' if env else ''}{command}".rstrip()


@dataclass
class Plan:
    """What setup found in place and what it will do."""

    present: list[str] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.steps


def _rustup() -> str | None:
    return shutil.which("rustup") or (
        str(p) if (p := _fs.cargo_home() / "bin" / "rustup").is_file() else None
    )


def rust_step(pin: Pin | None, error: BuildbpfError) -> Step:
    """How to get a Rust toolchain with rust-src."""
    rustup = _rustup()
    if rustup is None:
        return Step(
            f"no usable Rust toolchain: {error.message}",
            tuple(DEBIAN_RUST.split()),
            manual=True,
        )
    if pin is not None:
        name = pin.name
    else:
        nightly = [c for c in rustup_toolchains() if c.is_nightly_name]
        name = nightly[0].rustup_name if nightly and nightly[0].rustup_name else "nightly"
    installed = any(c.rustup_name and c.rustup_name.startswith(name) for c in rustup_toolchains())
    if installed:
        return Step(
            f"add rust-src to rustup toolchain {name}",
            (rustup, "component", "add", "rust-src", "--toolchain", name),
        )
    return Step(
        f"install rustup toolchain {name} with rust-src",
        (rustup, "toolchain", "install", name, "--profile", "minimal", "--component", "rust-src"),
    )


SYSTEM_LLVM_PREFIXES = ("/usr/lib/llvm-{major}", "/usr/local/opt/llvm@{major}")


def llvm_prefix(major: int, candidates: tuple[str, ...] = SYSTEM_LLVM_PREFIXES) -> Path | None:
    """A system LLVM of this major that bpf-linker can link against (Debian's llvm-N-dev)."""
    for prefix in (Path(c.format(major=major)) for c in candidates):
        lib = prefix / "lib"
        if (lib / "libLLVM.so").exists() or any(lib.glob(f"libLLVM-{major}*.so")):
            return prefix
    return None


def rustc_llvm_shim(rust: RustToolchain) -> Path | None:
    """A prefix exposing rustc's own libLLVM under the names bpf-linker's build links against.

    rustup toolchains ship `lib/libLLVM.so.22.1-rust-<ver>` but no `libLLVM.so`; a
    directory of two symlinks makes it linkable, and the result matches rustc's LLVM
    build exactly. It lives under the data dir because bpf-linker's rpath points there.
    """
    libs = sorted(rust.sysroot.glob("lib/libLLVM.so.*")) + sorted(rust.sysroot.glob("lib/libLLVM-*.so"))
    if not libs:
        return None
    return _fs.data_home() / "llvm-shim" / (rust.rustup_name or "system")


def _write_shim(shim: Path, rust: RustToolchain) -> None:
    lib = shim / "lib"
    lib.mkdir(parents=True, exist_ok=True)
    for real in [*rust.sysroot.glob("lib/libLLVM.so.*"), *rust.sysroot.glob("lib/libLLVM-*.so")]:
        for name in ("libLLVM.so", real.name):
            link = lib / name
            if link.is_symlink() or link.exists():
                link.unlink()
            link.symlink_to(real)


def linker_step(rust: RustToolchain, version: str) -> Step:
    """How to install a bpf-linker on rustc's LLVM major into buildbpf's stable location."""
    major = rust.llvm_major
    if major is None:
        raise SetupError(
            f"{rust.rustc} -vV does not say which LLVM it uses",
            fix="install bpf-linker by hand and set BUILDBPF_BPF_LINKER",
        )
    argv = (
        str(rust.cargo),
        "install",
        "bpf-linker",
        "--version",
        version,
        "--locked",
        "--force",
        "--no-default-features",
        "--features",
        f"llvm-{major}",
        "--root",
        str(_fs.managed_linker_root(major)),
    )
    env = {
        **rust.cargo_env(),
        # keep the build tree so an interrupted or repeated install resumes quickly
        "CARGO_TARGET_DIR": str(_fs.cache_home() / "bpf-linker-build" / f"llvm-{major}"),
    }
    env.pop("RUSTC_BOOTSTRAP", None)  # bpf-linker itself builds on stable
    prefix = llvm_prefix(major)
    if prefix is not None:
        return Step(
            f"install bpf-linker {version} built on the system LLVM {major} ({prefix})",
            argv,
            {**env, "LLVM_PREFIX": str(prefix)},
        )
    shim = rustc_llvm_shim(rust)
    if shim is not None:
        return Step(
            f"install bpf-linker {version} built on rustc's own LLVM {major}",
            argv,
            {**env, "LLVM_PREFIX": str(shim)},
        )
    return Step(
        f"no LLVM {major} to build bpf-linker against; install it, then run `buildbpf setup` again",
        (
            "apt-get",
            "install",
            f"llvm-{major}-dev",
            f"libpolly-{major}-dev",
            "libzstd-dev",
            "zlib1g-dev",
        ),
        manual=True,
    )


def make_plan(pin: Pin | None = None, bpf_linker_version: str = BPF_LINKER_VERSION) -> Plan:
    """Look at the machine and decide what to install (reads only, runs only probes)."""
    plan = Plan()
    try:
        rust = resolve_rust(pin)
    except ToolchainError as error:
        if isinstance(error, NamedToolError) or os.environ.get("BUILDBPF_RUSTC"):
            raise  # the user named a rustc or cargo: installing another one would not help
        plan.steps.append(rust_step(pin, error))
        return plan  # bpf-linker must match the rustc we do not have yet
    plan.present.append(rust.describe())
    choice = resolve_linker(rust.llvm_major)
    if choice.chosen is not None:
        plan.present.append(choice.chosen.describe())
    elif choice.named:
        choice.require()  # BUILDBPF_BPF_LINKER wins over any linker setup installs: say what is wrong
    else:
        plan.steps.append(linker_step(rust, bpf_linker_version))
    return plan


def _execute(step: Step, pin: Pin | None) -> None:
    if "llvm-shim" in step.env.get("LLVM_PREFIX", ""):
        _write_shim(Path(step.env["LLVM_PREFIX"]), resolve_rust(pin))
    print(f"buildbpf: {step.what}", flush=True)
    # host flags must not leak into the linker's own build (PITFALLS #11)
    run(
        step.argv,
        env_set=step.env,
        env_remove=("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTC_WRAPPER"),
    )


@dataclass
class Outcome:
    """What setup found, did, and left for the user."""

    present: list[str] = field(default_factory=list)
    done: list[Step] = field(default_factory=list)
    manual: list[Step] = field(default_factory=list)


def setup(pin: Pin | None = None, *, bpf_linker_version: str = BPF_LINKER_VERSION) -> Outcome:
    """Install until nothing is missing: at most a rust step, then the linker that matches it."""
    outcome = Outcome()
    for _ in range(3):
        plan = make_plan(pin, bpf_linker_version)
        outcome.present = plan.present
        automatic = [s for s in plan.steps if not s.manual]
        outcome.manual = [s for s in plan.steps if s.manual]
        if not automatic:
            return outcome
        repeated = [s for s in automatic if s in outcome.done]
        if repeated:
            raise SetupError(
                f"{repeated[0].what}: done once, but the toolchain is still not usable",
                fix="run `buildbpf doctor` to see what is wrong",
            )
        for step in automatic:
            _execute(step, pin)
            outcome.done.append(step)
    raise SetupError("setup did not converge", fix="run `buildbpf doctor` to see what is wrong")
