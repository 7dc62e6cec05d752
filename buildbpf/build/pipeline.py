"""The `build` and `check` pipelines: load -> plan -> execute -> gate -> check -> record.

The CLI parses options into a `BuildRequest` or `CheckRequest`, calls `run` or `check`, and
renders what comes back; everything between happens here.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from buildbpf.build import context as loading
from buildbpf.build import execute, output, record
from buildbpf.build.aya_build import aya_build_environment
from buildbpf.build.environment import env_flag
from buildbpf.build.layout import btf_expected, once, published_objects
from buildbpf.build.plan import plan_build
from buildbpf.build.precedence import workspace_value
from buildbpf.build.replay import DISABLE
from buildbpf.build.settings import Overrides, configured_kernels
from buildbpf.build.steps import BuildOptions, BuildPlan, CrateTools
from buildbpf.cargo import config_file
from buildbpf.errors import ConfigError

if TYPE_CHECKING:
    from buildbpf.build.layout import Published
    from buildbpf.build.replay import Handover
    from buildbpf.kernels.matrix import Matrix
    from buildbpf.objects.report import ObjectReport
    from buildbpf.toolchain.rust import RustToolchain


def plan_for(
    context: loading.Context,
    options: BuildOptions,
    environ: Mapping[str, str],
    *,
    every_ebpf_crate: bool = False,
) -> BuildPlan:
    """The build plan for a loaded context; `every_ebpf_crate`: steps for the eBPF crates
    aya-build builds too (for `lint`)."""
    rust = context.toolchain.rust
    write_config = bool(workspace_value("write_config", context.config, environ).value)
    solo = frozenset(
        crate.name
        for crate in context.workspace.ebpf_roots()
        if config_file.has_user_settings(crate.directory)
    )
    plan = plan_build(
        context.workspace,
        context.effective,
        cargo=rust.cargo,
        cargo_env=rust.cargo_env(),
        linker=context.toolchain.linker.path,
        userspace_triple=loading.userspace_triple(context.workspace.root, environ, rust.rustc_info.host),
        options=options,
        environ=environ,
        aya_build_env=aya_build_environment(context.toolchain, environ),
        solo=solo,
        ambiguous=context.ambiguous,
        crate_tools={
            name: CrateTools(t.rust.cargo, t.rust.cargo_env(), t.linker.path)
            for name, t in context.crate_toolchains.items()
        },
        every_ebpf_crate=every_ebpf_crate,
        project_rustflags=project_rustflags(context),
        userspace_tools=(context.userspace.cargo, context.userspace.cargo_env()),
    )
    return plan if write_config else dataclasses.replace(plan, configs=())


def project_rustflags(context: loading.Context) -> dict[tuple[str, str], list[config_file.ConfigFlags]]:
    """The bpf rustflags each eBPF crate's cargo configs give it, as `cargo build` there reads them."""
    from buildbpf._fs import cargo_home

    found = {}
    for crate in context.workspace.ebpf_roots():
        for target in context.effective[crate.name]["targets"]:
            flags = config_file.project_bpf_rustflags(
                crate.directory, cargo_home(), target.triple, build_below=context.workspace.root
            )
            if flags:
                found[crate.name, target.triple] = flags
    return found


@dataclass(frozen=True)
class BuildRequest:
    """What `buildbpf build` was asked for."""

    cwd: Path
    environ: Mapping[str, str]
    overrides: Overrides = field(default_factory=Overrides)
    options: BuildOptions = field(default_factory=BuildOptions)
    dry_run: bool = False  # write nothing, run nothing: what would be written and run
    print_plan: bool = False  # stop after planning
    check: bool = False  # `buildbpf check` the objects afterwards
    load: bool = False  # ... and load them into the kernel's verifier
    kernels: tuple[str, ...] = ()  # ... and verify them on these kernels under QEMU
    handover: Handover | None = None  # the cargo calls a replay of this build ran before handing over


@dataclass
class BuildResult:
    """What a build pipeline did: the plan always, the rest as far as it went."""

    context: loading.Context
    plan: BuildPlan
    cwd: Path  # where the build ran: where cargo looked for the workspace and its config
    prelude: list[str] = field(default_factory=list)  # notices printed before the build
    executed: execute.Result | None = None  # None when only planned (`print_plan`)
    reports: list[ObjectReport] = field(default_factory=list)  # with `check` or `load`
    on_kernels: Matrix | None = None  # with `kernels`, or `check` and kernels in the settings

    @property
    def ok(self) -> bool:
        """Whether every object checked afterwards passed."""
        return all(r.ok for r in self.reports)


def run(
    request: BuildRequest,
    notice: Callable[[str], None] | None = None,
    on_object: Callable[[Published], None] | None = None,
) -> BuildResult:
    """Load, plan and (unless only planning) execute, gate and check a build.

    `notice` shows a line before the build starts (the toolchain's bootstrap notice); the
    lines shown are kept in `prelude`, for a replay to show them again. `on_object` hears of
    each object as soon as it is verified.
    """
    env_flag(request.environ, DISABLE)  # BUILDBPF_NO_REPLAY=maybe is an error, not "off"
    context = loading.load(request.cwd, request.overrides, request.environ)
    plan = plan_for(context, request.options, request.environ)
    result = BuildResult(context, plan, request.cwd)
    if request.print_plan:
        return result
    if notice is not None and (bootstrap := context.toolchain.rust.bootstrap_notice()):
        result.prelude.append(f"buildbpf: {bootstrap}")
        notice(result.prelude[-1])
    if request.dry_run:
        result.executed = execute.execute(plan, dry_run=True)
        return result
    for directory in plan.output_dirs:  # before minutes of compiling: never a folder of the user's
        output.claim(directory)
    execute.prepare_sources(context, request.options)
    result.executed = execute.execute(plan, timeout=context.cargo_timeout, on_object=on_object,
                                      handover=request.handover)  # fmt: skip
    if request.check or request.load or request.kernels:
        from buildbpf.objects import check as checker

        inputs = []  # as each was built: BTF only where its settings asked for it
        old = {c.name for c in context.workspace.crates if c.old_macros}
        for obj in once(result.executed.objects):  # an aya-build object and its published copy: one
            btf, origin = btf_expected(context.effective[obj.crate], aya_build=obj.aya_build)
            inputs.append(checker.CheckInput(Path(obj.path), btf, origin, obj.crate in old))
        # the building machine's kernel is not the one deployed to: no attach targets or
        # struct layouts judged against it here (`check` does, `check --kernel` on others)
        options = checker.CheckOptions(attach_targets=False, layouts=False, load=request.load,
                                       rust=context.toolchain.rust)  # fmt: skip
        result.reports = checker.run(inputs, options)
        crates = [context.effective[o.crate] for o in once(result.executed.objects)]
        configured = (k for effective in crates for k in configured_kernels(effective))
        wanted = list(request.kernels) or list(dict.fromkeys(configured))
        if wanted:
            result.on_kernels = on_kernels(result.reports, wanted, (), {}, context.toolchain.rust)
    return result


def on_kernels(
    reports: Sequence[ObjectReport],
    kernels: Sequence[str],
    images: Sequence[Path],
    extra_targets: Mapping[str, str],
    rust: RustToolchain,
    *,
    full_log: bool = False,
) -> Matrix:
    """Every program of `reports` verified on each of these kernels under QEMU."""
    from buildbpf.kernels import verify

    wanted = verify.requests(kernels, images)
    return verify.on_reports(reports, wanted, dict(extra_targets), rust, full_log=full_log)


def remember(recorder: record.Recorder | None, result: BuildResult, stdout: str) -> None:
    """Record a clean no-op build (no config written, every check passed) for a replay."""
    executed = result.executed
    if recorder is None or executed is None or not result.ok:
        return
    if all(c.status is config_file.ConfigStatus.UNCHANGED for c in executed.configs):
        recorder.save(
            inputs=record.replay_inputs(result.context, result.cwd),
            calls=record.replay_calls(result.plan, executed.objects),
            prelude=result.prelude,
            stdout=stdout,
        )


@dataclass(frozen=True)
class CheckRequest:
    """What `buildbpf check` was asked for."""

    cwd: Path
    environ: Mapping[str, str]
    objects: Sequence[Path] = ()  # none: every verified object of the workspace
    btf_required: bool | None = None  # None: as each object was built (or not, for a named one)
    attach_targets: bool = True  # check attach targets against this kernel
    load: bool = False  # load every program into the kernel's verifier
    extra_targets: Mapping[str, str] = field(default_factory=dict)  # FUNCTION -> attach target
    kernels: Sequence[str] = ()  # also verify on these kernels under QEMU (default: the settings')
    kernel_images: Sequence[Path] = ()  # ... and on these kernel images of the user's
    full_log: bool = False  # keep whole verifier logs from the kernels (the host's are whole)
    strict_layout: bool = False  # a kernel struct laid out otherwise on a kernel fails the check


@dataclass
class CheckResult:
    """What `check` found: a report per object, and the kernel matrix when kernels were asked for."""

    reports: list[ObjectReport]
    on_kernels: Matrix | None = None


def check(request: CheckRequest) -> CheckResult:
    """Inspect the named objects, or the workspace's verified ones, and report on each; then
    verify them on the kernels asked for (or those the crates' settings name)."""
    from buildbpf.build.precedence import pin_from
    from buildbpf.objects import check as checker
    from buildbpf.toolchain.rust import resolve_rust

    # a named object is judged alone, the workspace's objects by the settings they were built
    # with; --btf/--no-btf overrides both
    inputs = [checker.CheckInput(p) for p in request.objects]
    kernels = list(request.kernels)
    strict = request.strict_layout
    if not inputs:
        published, found = published_objects(request.cwd, request.environ)
        if not found:
            raise ConfigError(
                f"no verified objects under {published}", fix="run `buildbpf build --release` first"
            )
        inputs = [
            checker.CheckInput(o.path, o.btf, f"crate {o.crate}: {o.btf_origin}", o.sections_name_programs)
            for o in found
        ]
        kernels = kernels or list(dict.fromkeys(k for o in found for k in o.kernels))  # buildbpf.toml
        strict = strict or any(o.strict_layout for o in found)
    asked = bool(kernels or request.kernel_images)

    def rust() -> RustToolchain:  # the verifier helpers build with the toolchain this cwd pins
        return resolve_rust(pin_from(None, request.cwd))

    options = checker.CheckOptions(
        btf_required=request.btf_required,
        attach_targets=request.attach_targets,
        load=request.load,
        extra_targets=request.extra_targets,
        rust=rust,  # resolved only after the privilege check: without it, --load is exit 7
        strict_layout=strict,
    )
    result = CheckResult(checker.run(inputs, options))
    if asked:
        images, extra, full = request.kernel_images, request.extra_targets, request.full_log
        result.on_kernels = on_kernels(result.reports, kernels, images, extra, rust(), full_log=full)
        result.on_kernels.strict_layout = strict
    return result
