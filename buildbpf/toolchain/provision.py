"""`buildbpf setup`: install what an eBPF build needs and can be installed without root.

The plan is data (`SetupStep`s); `--dry-run` prints it, a normal run executes it. What
buildbpf cannot do itself (distro packages) is printed as the exact command. A
second run finds everything in place and does nothing.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from buildbpf import _fs
from buildbpf._process import Command, exited, run
from buildbpf.errors import BuildbpfError, FileSystemError, NamedToolError, SetupError, ToolchainError
from buildbpf.toolchain.linker import resolve_linker
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import RustToolchain, resolve_rust, rustup_toolchains

# The bpf-linker release buildbpf installs by default: it has the llvm-21/22/23
# features. Override with `buildbpf setup --bpf-linker-version`.
BPF_LINKER_VERSION = "0.13.0"

DEBIAN_RUST = "apt-get install rustc-web cargo-web rust-web-src"


@dataclass(frozen=True)
class SetupStep:
    """One thing setup does (its command) or tells the user to do (manual)."""

    what: str
    command: Command
    manual: bool = False

    def render(self) -> str:
        """What the step is, and the command as a line to paste into a shell."""
        prefix = "run yourself: " if self.manual else ""
        return f"{self.what}\n    {prefix}{self.command.shell_line()}".rstrip()


@dataclass
class SetupPlan:
    """What setup found in place and what it will do."""

    present: list[str] = field(default_factory=list)
    steps: list[SetupStep] = field(default_factory=list)

    @property
    def nothing_to_do(self) -> bool:
        return not self.steps


def _rustup() -> str | None:
    return shutil.which("rustup") or (
        str(p) if (p := _fs.cargo_home() / "bin" / "rustup").is_file() else None
    )


def rust_step(pin: Pin | None, error: BuildbpfError) -> SetupStep:
    """How to get a Rust toolchain with rust-src."""
    rustup = _rustup()
    if rustup is None:
        return SetupStep(
            f"no usable Rust toolchain: {error.message}", Command(tuple(DEBIAN_RUST.split())), manual=True
        )
    if pin is not None:
        name = pin.name
    else:
        nightly = [c for c in rustup_toolchains() if c.is_nightly_name]
        name = nightly[0].rustup_name if nightly and nightly[0].rustup_name else "nightly"
    installed = any(c.rustup_name and c.rustup_name.startswith(name) for c in rustup_toolchains())
    if installed:
        return SetupStep(
            f"add rust-src to rustup toolchain {name}",
            Command((rustup, "component", "add", "rust-src", "--toolchain", name)),
        )
    return SetupStep(
        f"install rustup toolchain {name} with rust-src",
        Command((rustup, "toolchain", "install", name, "--profile", "minimal", "--component", "rust-src")),
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


def linker_step(rust: RustToolchain, version: str) -> SetupStep:
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
        return SetupStep(
            f"install bpf-linker {version} built on the system LLVM {major} ({prefix})",
            Command(argv, env_set={**env, "LLVM_PREFIX": str(prefix)}),
        )
    shim = rustc_llvm_shim(rust)
    if shim is not None:
        return SetupStep(
            f"install bpf-linker {version} built on rustc's own LLVM {major}",
            Command(argv, env_set={**env, "LLVM_PREFIX": str(shim)}),
        )
    packages = (f"llvm-{major}-dev", f"libpolly-{major}-dev", "libzstd-dev", "zlib1g-dev")
    return SetupStep(
        f"no LLVM {major} to build bpf-linker against; install it, then run `buildbpf setup` again",
        Command(("apt-get", "install", *packages)),
        manual=True,
    )


def plan_setup(pin: Pin | None = None, bpf_linker_version: str = BPF_LINKER_VERSION) -> SetupPlan:
    """Look at the machine and decide what to install (reads only, runs only probes)."""
    plan = SetupPlan()
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


def _execute(step: SetupStep, pin: Pin | None) -> None:
    """Run one step; any failure is a SetupError (exit 6) with the reason, never cargo's exit 4."""
    env = step.command.env_set
    if "llvm-shim" in env.get("LLVM_PREFIX", ""):
        try:
            _write_shim(Path(env["LLVM_PREFIX"]), resolve_rust(pin))
        except OSError as exc:
            error = FileSystemError.from_os(exc, "create the LLVM link", exc.filename)
            raise SetupError(f"{step.what}: {error.message}", fix=error.fix) from None
    print(f"buildbpf: {step.what}", flush=True)
    # host flags must not leak into the linker's own build (PITFALLS #11)
    try:
        done = run(
            step.command.argv,
            env_set=env,
            env_remove=("RUSTFLAGS", "CARGO_ENCODED_RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTC_WRAPPER"),
            check=False,
        )
    except ToolchainError as error:  # the program could not start
        raise SetupError(f"{step.what}: {error.message}", fix=error.fix) from None
    if done.returncode != 0:
        raise SetupError(
            f"{step.what}: `{Path(step.command.argv[0]).name} {step.command.argv[1]}` "
            f"{exited(done.returncode)}: {_reason(done.stderr)}",
            fix="read the output above; run `buildbpf setup` again once the cause is fixed "
            "(the build tree is kept, so it resumes)",
        )


def _reason(stderr: str) -> str:
    """The first `error...` line a tool printed (ANSI colours removed), else its last line."""
    from buildbpf.terminal import strip_ansi

    lines = [line.strip() for line in strip_ansi(stderr).splitlines() if line.strip()]
    first = next((line for line in lines if line.startswith("error")), None)
    return first or (lines[-1] if lines else "it printed nothing")


@dataclass
class SetupOutcome:
    """What setup found, did, and left for the user."""

    present: list[str] = field(default_factory=list)
    done: list[SetupStep] = field(default_factory=list)
    manual: list[SetupStep] = field(default_factory=list)


def setup(
    pin: Pin | None = None,
    *,
    bpf_linker_version: str = BPF_LINKER_VERSION,
    on_wait: Callable[[Path], None] | None = None,
) -> SetupOutcome:
    """Install until nothing is missing: at most a rust step, then the linker that matches it.

    One setup at a time per data dir (`_fs.setup_lock`): a second one waits (`on_wait` hears of
    it), then plans again and finds done what the first installed. Two `cargo install`s into
    the same root would otherwise race and one fail copying its binary.
    """
    lock = _fs.setup_lock()
    with contextlib.ExitStack() as held:
        try:
            held.enter_context(_fs.exclusive(lock, None if on_wait is None else lambda: on_wait(lock)))
        except FileSystemError as error:  # the data dir cannot be written: nothing can be installed
            raise SetupError(error.message, fix=error.fix) from None
        return _setup(pin, bpf_linker_version)


def _setup(pin: Pin | None, bpf_linker_version: str) -> SetupOutcome:
    outcome = SetupOutcome()
    for _ in range(3):
        plan = plan_setup(pin, bpf_linker_version)
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
