"""`buildbpf lint`: clippy on the eBPF crates with exactly the build's target, build-std and
flags, then on the userspace crates as `cargo clippy` would run.

The calls are the build plan's (`plan.ebpf_build` and the userspace call) with `clippy` in
place of `build`; cargo-clippy is run directly, from the directory of the rustc the plan
builds with, because `cargo clippy` looks in ~/.cargo/bin first and could pick another
toolchain's clippy, which cannot read this rustc's `core`.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from buildbpf._process import Command, exited, run_command
from buildbpf.build.context import Context
from buildbpf.build.execute import prepare_sources
from buildbpf.build.pipeline import plan_for
from buildbpf.build.steps import BuildOptions, BuildPlan
from buildbpf.errors import CargoError, ConfigError, ToolchainError
from buildbpf.toolchain.rust import RustToolchain

CLIPPY = "cargo-clippy"


@dataclass(frozen=True)
class LintCall:
    """One clippy run: what it lints, and the command."""

    what: str
    command: Command


# cargo's hint after fixable warnings: (run `cargo clippy --fix --bin "x" -p x-ebpf -- ARGS` to ...)
_CARGO_FIX = re.compile(r"`cargo clippy --fix [^`]*?-p (\S+)(?: -- ([^`]*))?`")


def fix_hint(text: str) -> str:
    """clippy's output, its `cargo clippy --fix` hint naming `buildbpf lint --fix` instead: a
    plain cargo lacks an eBPF crate's bpf target, build-std and toolchain, and the
    BUILDBPF_OBJECTS a userspace crate embeds its objects from."""

    def ours(match: re.Match[str]) -> str:
        args = (match.group(2) or "").strip()
        return f"`buildbpf lint --fix -p {match.group(1)}{f' -- {args}' if args else ''}`"

    return _CARGO_FIX.sub(ours, text)


def clippy_path(rust: RustToolchain) -> Path:
    """cargo-clippy beside the toolchain's rustc, or a `ToolchainError` saying how to get it."""
    candidate = rust.rustc.parent / CLIPPY
    if candidate.is_file():
        return candidate
    if rust.rustup_name:
        fix = f"rustup component add clippy --toolchain {rust.rustup_name}"
    elif str(rust.rustc).startswith("/usr/bin/"):
        fix = "apt-get install rust-web-clippy (for Debian's rustc-web; rust-clippy for rustc)"
    else:
        fix = f"install the clippy that belongs to {rust.rustc} into {rust.rustc.parent}"
    raise ToolchainError(
        f"{CLIPPY} not found beside {rust.rustc} ({rust.source}): `buildbpf lint` needs the "
        "clippy of the rustc that builds the crates it lints",
        fix=fix,
    )


def _as_clippy(
    call: Command, clippy: Path, cargo: Path, clippy_args: Sequence[str], fix: Sequence[str] = ()
) -> Command:
    """`cargo build ARGS` -> `cargo-clippy clippy [FIX] ARGS -- CLIPPY_ARGS`, human messages."""
    args = list(call.argv[2:])
    if "--message-format" in args:  # the build reads JSON; a person reads clippy
        at = args.index("--message-format")
        del args[at : at + 2]
    argv = (str(clippy), "clippy", *fix, *args, *(("--", *clippy_args) if clippy_args else ()))
    return replace(call, argv=argv, env_set={**call.env_set, "CARGO": str(cargo)})


def lint_calls(
    plan: BuildPlan,
    rust: RustToolchain,
    clippy_args: Sequence[str] = (),
    *,
    clippy: Path | None = None,
    fix: Sequence[str] = (),
    userspace: RustToolchain | None = None,
) -> list[LintCall]:
    """The clippy calls for a build plan: each eBPF step, then userspace (with the clippy of
    `userspace`, the toolchain it builds with, when that is another one); `fix` holds `--fix`
    and its `--allow-*` flags when clippy should apply its suggestions."""
    clippy = clippy or clippy_path(rust)
    calls = [
        LintCall(
            f"eBPF crates {', '.join(step.crates)} ({step.target})",
            _as_clippy(step.call, clippy, rust.cargo, clippy_args, fix),
        )
        for step in plan.ebpf
    ]
    if plan.userspace is not None:
        user = plan.userspace
        if userspace is not None and userspace.rustc != rust.rustc:
            clippy, rust = clippy_path(userspace), userspace
        calls.append(LintCall(user.what, _as_clippy(user.call, clippy, rust.cargo, clippy_args, fix)))
    return calls


def require_objects(plan: BuildPlan) -> None:
    """Userspace embeds the verified objects: without them clippy cannot check it."""
    if plan.userspace is None:
        return
    value = plan.userspace.call.env_set.get(plan.objects_env)
    if value and not Path(value).is_dir():
        raise ConfigError(
            f"no verified eBPF objects in {value}: the userspace crates embed them "
            f"({plan.objects_env}), so clippy cannot check them yet",
            fix="run `buildbpf build` once, then `buildbpf lint`",
        )


def lint(
    context: Context,
    environ: Mapping[str, str],
    *,
    options: BuildOptions,
    clippy_args: Sequence[str] = (),
    fix: Sequence[str] = (),
    passed: Callable[[LintCall], None] = lambda call: None,
) -> list[LintCall]:
    """Run clippy on the workspace's eBPF and userspace crates; raise on the first failure
    (`passed` hears of each clean run as it ends). `fix`: see `lint_calls`."""
    plan = plan_for(context, options, environ, every_ebpf_crate=True)  # aya-build's too
    calls = lint_calls(plan, context.toolchain.rust, clippy_args, fix=fix, userspace=context.userspace)
    prepare_sources(context, options)
    for index, call in enumerate(calls):
        if index == len(plan.ebpf):  # the userspace call: the eBPF crates were linted first
            require_objects(plan)
        done = run_command(call.command, echo_stdout=True, check=False, timeout=context.cargo_timeout,
                           rewrite=fix_hint)  # fmt: skip
        if done.returncode != 0:
            raise CargoError(
                f"clippy failed on {call.what} (it {exited(done.returncode)})",
                fix="read clippy's messages above; fix them or allow the lint in the crate",
            )
        passed(call)
    return calls
