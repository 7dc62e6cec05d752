"""The `buildbpf` command line: parse, dispatch, and turn every domain error into one message."""

from __future__ import annotations

import enum
import json
import logging
import os
import sys
import traceback
from pathlib import Path
from typing import Annotated, Any

import typer

from buildbpf import __version__
from buildbpf.errors import (
    BuildbpfError,
    ConfigError,
    FileSystemError,
    Interrupted,
    error_json,
    render,
    wants_json,
)

app = typer.Typer(
    name="buildbpf",
    help="Build Rust eBPF (Aya) workspaces: toolchain, flags, bpf-linker and a verified object, "
    "without a hand-written xtask.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

log = logging.getLogger("buildbpf")

ToolchainOpt = Annotated[
    str | None,
    typer.Option(
        "--toolchain",
        help="rustup toolchain to build with (e.g. nightly-2026-05-01); "
        "default: env BUILDBPF_TOOLCHAIN, rust-toolchain.toml, then auto-detect.",
        show_default=False,
    ),
]
LinkerOpt = Annotated[
    str | None,
    typer.Option(
        "--bpf-linker",
        help="path to bpf-linker, used or refused, never replaced (default: env BUILDBPF_BPF_LINKER, "
        "bpf_linker in buildbpf.toml, then buildbpf's own, PATH, ~/.cargo/bin).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        print(f"buildbpf {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug output.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Build Rust eBPF workspaces without an xtask."""
    logging.basicConfig(
        level=logging.DEBUG if verbose or debug else logging.INFO,
        format="buildbpf: %(message)s",
        stream=sys.stderr,
    )
    from buildbpf.environment import unknown_variables

    for line in unknown_variables(os.environ):
        log.warning("%s", line)


_COLOURS = {"ok": "green", "warn": "yellow", "fail": "red"}


@app.command()
def doctor(
    toolchain: ToolchainOpt = None,
    bpf_linker: LinkerOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Check the toolchain, bpf-linker and kernel; exit 0 when an eBPF build can work here."""
    from buildbpf.doctor import diagnose
    from buildbpf.toolchain import pin_from

    report = diagnose(pin_from(toolchain, Path.cwd()), bpf_linker)
    if as_json:
        print(json.dumps(report.as_json(), indent=2))
    else:
        width = max(len(c.name) for c in report.checks)
        for check in report.checks:
            status = typer.style(f"{check.status:<4}", fg=_COLOURS[check.status], bold=True)
            typer.echo(f"  {status}  {check.name:<{width}}  {check.detail}")
            if check.fix and check.status != "ok":
                typer.echo(f"  {'':<4}  {'':<{width}}  fix: {check.fix}")
        verdict = "eBPF builds can work here" if report.can_build else "eBPF builds cannot work here yet"
        typer.echo(f"\n{verdict}.")
    raise typer.Exit(0 if report.can_build else 3)


@app.command()
def setup(
    toolchain: ToolchainOpt = None,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print what would be installed.")] = False,
    bpf_linker_version: Annotated[
        str | None,
        typer.Option("--bpf-linker-version", help="bpf-linker version to install.", show_default=False),
    ] = None,
) -> None:
    """Install what is missing: rust-src (rustup), bpf-linker matching rustc's LLVM.

    bpf-linker goes to $BUILDBPF_HOME (default ~/.local/share/buildbpf), where buildbpf
    finds it. Distro packages it cannot install itself are printed as exact commands.
    """
    from buildbpf import provision
    from buildbpf.toolchain import pin_from

    pin = pin_from(toolchain, Path.cwd())
    version = bpf_linker_version or provision.BPF_LINKER_VERSION
    if dry_run:
        plan = provision.make_plan(pin, version)
        for item in plan.present:
            typer.echo(f"present: {item}")
        for step in plan.steps:
            typer.echo(f"would {'ask you to ' if step.manual else ''}{step.render()}")
        if plan.nothing_to_do:
            typer.echo("nothing to do: the toolchain is complete")
        return
    outcome = provision.setup(pin, bpf_linker_version=version)
    for item in outcome.present:
        typer.echo(f"present: {item}")
    if not outcome.done and not outcome.manual:
        typer.echo("nothing to do: the toolchain is complete")
    for step in outcome.done:
        typer.echo(f"done: {step.what}")
    if outcome.manual:
        for step in outcome.manual:
            typer.echo(f"needs you: {step.render()}")
        raise typer.Exit(6)


class MessageFormat(enum.StrEnum):
    """How `build` reports its result."""

    HUMAN = "human"
    JSON = "json"


@app.command()
def build(
    ctx: typer.Context,
    release: Annotated[bool, typer.Option("--release", help="Build userspace in release mode.")] = False,
    package: Annotated[
        list[str] | None,
        typer.Option("--package", "-p", help="Only these crates (repeatable).", show_default=False),
    ] = None,
    target: Annotated[
        str | None,
        typer.Option("--target", help="eBPF byte order: bpfel, bpfeb or all.", show_default=False),
    ] = None,
    toolchain: ToolchainOpt = None,
    bpf_linker: LinkerOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show the commands and config changes; change nothing.")
    ] = False,
    print_plan: Annotated[
        bool, typer.Option("--print-plan", help="Print the plan as JSON and stop.")
    ] = False,
    message_format: Annotated[
        MessageFormat, typer.Option("--message-format", help="human, or json on stdout.")
    ] = MessageFormat.HUMAN,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug output.")] = False,
    run_check: Annotated[
        bool, typer.Option("--check", help="Run `buildbpf check` on the objects afterwards.")
    ] = False,
    load: Annotated[
        bool, typer.Option("--load", help="Run `buildbpf check --load` (kernel verifier, root) afterwards.")
    ] = False,
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            help="Verify every object on these kernels under QEMU afterwards (as `check --kernel`).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Build the eBPF crates, verify every object, then build the userspace crates.

    eBPF crates are always built with release settings (opt-level 3, LTO, one codegen unit,
    panic=abort): debug eBPF does not pass the verifier. Verified objects are copied to
    <target-dir>/buildbpf/<bpf-triple>/<bin>, and userspace is built with
    BUILDBPF_OBJECTS pointing there.

    When nothing the plan depends on changed since the last identical build, its cargo
    calls are replayed without planning again (-v says why either way;
    BUILDBPF_NO_REPLAY=1 turns this off).
    """
    from buildbpf import build as builder
    from buildbpf.environment import env_flag
    from buildbpf.plan import BuildOptions
    from buildbpf.replay import DISABLE
    from buildbpf.settings import Overrides, parse_cli_targets

    if verbose:
        logging.getLogger().setLevel(logging.DEBUG)
    env_flag(os.environ, DISABLE)  # BUILDBPF_NO_REPLAY=maybe is an error, not "off"
    overrides = Overrides(targets=parse_cli_targets(target), toolchain=toolchain, bpf_linker=bpf_linker)
    context = builder.load(Path.cwd(), overrides, os.environ)
    plan = builder.plan_for(context, BuildOptions(release=release, packages=tuple(package or ())), os.environ)
    if print_plan:
        print(json.dumps(plan.as_json(), indent=2))
        return
    human = message_format is MessageFormat.HUMAN
    prelude = []
    if human and (notice := context.toolchain.rust.bootstrap_notice()):
        prelude.append(f"buildbpf: {notice}")
        typer.echo(prelude[-1], err=True)
    if dry_run:
        result = builder.execute(plan, dry_run=True)
        for outcome in result.configs:
            typer.echo(
                f"would {outcome.status}: {outcome.path}"
                if outcome.status != "unchanged"
                else f"unchanged: {outcome.path}"
            )
        calls = [s.call for s in plan.ebpf] + ([plan.userspace.call] if plan.userspace else [])
        for call in calls:
            typer.echo(f"would run: {call.shell_line()}")
        return
    builder.prepare_sources(context)
    result = builder.execute(plan, timeout=context.cargo_timeout)
    reports: list[Any] = []
    if run_check or load or kernel:
        from buildbpf import check as checker

        reports = []
        for obj in result.objects:  # as each was built: BTF only where its settings asked for it
            btf, origin = builder.btf_expected(context.effective[obj.crate], aya_build=obj.aya_build)
            reports.append(checker.inspect(Path(obj.path), btf_required=btf, btf_origin=origin))
        if load:
            _load_reports(reports)
    from buildbpf.kernels import command

    on_kernels = command.after_build(reports, kernel, [context.effective[o.crate] for o in result.objects])
    if not human:
        checked = {"checks": [r.as_json() for r in reports], **command.as_json(on_kernels)}
        output = json.dumps({**result.as_json(), **checked}, indent=2) + "\n"
    else:
        output = "".join(f"{line}\n" for line in _build_lines(result))
    typer.echo(output, nl=False)
    if human:
        for report in reports:
            _print_report(report)
    code = command.finish(on_kernels, human)
    if code or not all(r.ok for r in reports):
        raise typer.Exit(code or 5)
    recorder = ctx.obj
    if recorder is not None and all(c.status == "unchanged" for c in result.configs):
        # a clean no-op: the next identical build may replay it (buildbpf/replay.py)
        recorder.save(
            inputs=builder.replay_inputs(context, Path.cwd()),
            calls=builder.replay_calls(plan, result),
            prelude=prelude,
            stdout=output,
        )


def _build_lines(result: Any) -> list[str]:
    lines = [
        f"verified {obj.crate} ({obj.target}): {obj.path} — {obj.size} bytes, "
        f"programs: {', '.join(obj.programs)}; "
        + (f"license {obj.license}" if obj.license is not None else "no license section (Aya says GPL)")
        for obj in result.objects
    ]
    if result.userspace:
        lines.append(f"built userspace: {', '.join(result.userspace)}")
    return lines


@app.command()
def config(
    toolchain: ToolchainOpt = None,
    target: Annotated[str | None, typer.Option("--target", help="As for build.", show_default=False)] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print as JSON.")] = False,
) -> None:
    """Print the effective settings of every crate and where each value came from."""
    from buildbpf import build as builder
    from buildbpf.settings import Overrides, cargo_timeout, describe, parse_cli_targets

    context = builder.load(
        Path.cwd(), Overrides(targets=parse_cli_targets(target), toolchain=toolchain), os.environ
    )
    timeout = cargo_timeout(context.config, os.environ)
    data: dict[str, Any] = {
        "config_file": str(context.config.path) if context.config.path else None,
        "toolchain": context.toolchain.rust.describe(),
        "bpf_linker": context.toolchain.linker.describe(),
        "cargo_timeout": {
            "value": timeout.value, "source": timeout.source.name.lower(), "origin": timeout.origin
        },
        "crates": {
            crate.name: {
                "role": crate.role.value,
                "settings": {
                    name: {"value": describe(v.value), "source": v.source.name.lower(), "origin": v.origin}
                    for name, v in context.effective[crate.name].values.items()
                    if name != "role"
                },
            }
            for crate in context.workspace.crates
        },
    }
    if as_json:
        print(json.dumps(data, indent=2))
        return
    typer.echo(f"config file: {data['config_file'] or '(none: zero-config)'}")
    typer.echo(f"toolchain:   {data['toolchain']}")
    typer.echo(f"bpf-linker:  {data['bpf_linker']}")
    typer.echo(f"cargo timeout: {timeout.value:g} s    # {data['cargo_timeout']['source']}: {timeout.origin}")
    for name, crate in data["crates"].items():
        typer.echo(f"\n[{name}] role = {crate['role']}")
        if crate["role"] != "ebpf":
            continue
        for key, value in crate["settings"].items():
            typer.echo(f"  {key} = {json.dumps(value['value'])}    # {value['source']}: {value['origin']}")


@app.command()
def init(
    path: Annotated[
        Path | None, typer.Argument(help="Directory of the new workspace.", show_default=False)
    ] = None,
    name: Annotated[
        str | None,
        typer.Option("--name", help="Project name (default: the directory name).", show_default=False),
    ] = None,
    program_type: Annotated[
        str, typer.Option("--program-type", "-t", help="Program type (see --list).")
    ] = "xdp",
    option: Annotated[
        list[str] | None,
        typer.Option(
            "--option",
            "-o",
            help="Program option KEY=VALUE (repeatable; see --list). A value that breaks the option's "
            "rule (an interface name, a kernel function name, a path, ...) is refused.",
            show_default=False,
        ),
    ] = None,
    force: Annotated[
        bool,
        typer.Option(
            "--force",
            help="Write into a non-empty directory: add the generated files and update those an "
            "earlier init generated and nobody edited since. Never replaces or deletes your files: "
            "a file with other content is listed and init stops (exit 2).",
        ),
    ] = False,
    overwrite: Annotated[
        bool,
        typer.Option(
            "--overwrite",
            help="Like --force, and also replace files init did not generate (or that were edited), "
            "keeping each old one beside it as FILE.orig.",
        ),
    ] = False,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="List the files; write nothing.")] = False,
    list_types: Annotated[bool, typer.Option("--list", help="List program types and their options.")] = False,
) -> None:
    """Scaffold a new Aya workspace (eBPF, common and userspace crates) that buildbpf builds."""
    from buildbpf import scaffold
    from buildbpf.errors import ConfigError
    from buildbpf.programs import PROGRAM_TYPES

    if list_types:
        for kind in PROGRAM_TYPES.values():
            described = (f"{key}={default}: {kind.rules[key].what}" for key, default in kind.options.items())
            opts = ", ".join(described) or "no options"
            needs = f"  [needs {kind.needs}]" if kind.needs else ""
            typer.echo(f"{kind.name:<15} {kind.summary} ({opts}){needs}")
        return
    if path is None:
        raise ConfigError("init needs a PATH", fix="buildbpf init my-probe --program-type xdp")
    given = {}
    for item in option or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--option {item!r} is not KEY=VALUE", fix="e.g. -o iface=eth0")
        given[key.replace("-", "_")] = value
    planned = scaffold.init(
        path,
        name=name,
        kind_name=program_type,
        options=given,
        force=force,
        overwrite=overwrite,
        dry_run=dry_run,
    )
    for planned_file in planned:
        kept = f" (yours kept as {planned_file.backup})" if planned_file.backup else ""
        would = "would " if dry_run and planned_file.writes else ""
        typer.echo(f"{would}{planned_file.action}: {planned_file.path}{kept}")
    if not dry_run:
        import shlex

        typer.echo(f"\nnext: cd {shlex.quote(str(path))} && buildbpf build --release")


@app.command()
def check(
    objects: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Objects to inspect (default: every verified object of the workspace).", show_default=False
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the reports as JSON.")] = False,
    btf_required: Annotated[
        bool | None,
        typer.Option(
            "--btf/--no-btf",
            help="Require .BTF and .BTF.ext, or not. Default: as each crate's settings say (btf) for "
            "the workspace's objects; not required of an object named here (missing BTF is a note).",
            show_default=False,
        ),
    ] = None,
    load: Annotated[
        bool, typer.Option("--load", help="Also load every program into this kernel's verifier (root).")
    ] = False,
    full_log: Annotated[
        bool, typer.Option("--full-log", help="With --load: the whole verifier log.")
    ] = False,
    attach_targets: Annotated[
        bool,
        typer.Option(
            "--attach-targets/--no-attach-targets", help="Check attach targets against this kernel."
        ),
    ] = True,
    attach_target: Annotated[
        list[str] | None,
        typer.Option(
            "--attach-target",
            help="FUNCTION=TARGET for --load, for programs whose section does not name it (repeatable).",
            show_default=False,
        ),
    ] = None,
    kernel: Annotated[
        list[str] | None,
        typer.Option(
            "--kernel",
            help="Also verify every program on these kernels under QEMU: 5.10, 6.1, 6.12, ..., lts, "
            "latest (comma-separated or repeated; `buildbpf kernels` lists them).",
            show_default=False,
        ),
    ] = None,
    kernel_image: Annotated[
        list[Path] | None,
        typer.Option(
            "--kernel-image", help="A bzImage of your own to verify on (repeatable).", show_default=False
        ),
    ] = None,
) -> None:
    """Inspect eBPF objects: programs, maps, license, BTF lint, undefined symbols, size, sha256.

    With --load, every program is loaded into the running kernel's verifier (with Aya, so
    Aya's legacy maps work) and unloaded again; nothing stays in the kernel. Exit 5 when
    any object has a problem, 7 when the kernel cannot be asked (no privilege). With --kernel:
    a matrix of programs x kernels; exit 5 when a cell fails, 9 when a kernel gave no verdict.
    """
    from buildbpf import check as checker
    from buildbpf.errors import ConfigError

    # (path, BTF required, why): a named object is judged alone, the workspace's objects by
    # the settings they were built with; --btf/--no-btf overrides both
    judged: list[tuple[Path, bool, str | None]] = [(p, False, None) for p in objects or []]
    if not judged:
        from buildbpf import build as builder

        published, found = builder.published_objects(Path.cwd(), os.environ)
        if not found:
            raise ConfigError(
                f"no verified objects under {published}", fix="run `buildbpf build --release` first"
            )
        judged = [(o.path, o.btf, f"crate {o.crate}: {o.btf_origin}") for o in found]
        kernel = kernel or list(dict.fromkeys(k for o in found for k in o.kernels))  # buildbpf.toml
    if btf_required is not None:
        judged = [(p, btf_required, "--no-btf") for p, _, _ in judged]
    reports = [checker.inspect(p, btf_required=btf, btf_origin=why) for p, btf, why in judged]
    if attach_targets:
        for report in reports:
            checker.add_attach_targets(report)
    if load:
        _load_reports(reports, _targets(attach_target))
    on_kernels = None
    if kernel or kernel_image:
        from buildbpf.kernels import command

        wanted = command.requests(kernel or [], kernel_image or [])
        on_kernels = command.check_reports(reports, wanted, _targets(attach_target))
    if not as_json:
        for report in reports:
            _print_report(report, full_log)
    elif on_kernels is None:
        print(json.dumps([r.as_json() for r in reports], indent=2))
    code = 0 if on_kernels is None else command.show(on_kernels, reports, as_json)
    if code or not all(r.ok for r in reports):
        raise typer.Exit(code or 5)


def _targets(items: list[str] | None) -> dict[str, str]:
    """`--attach-target FUNCTION=TARGET` items as a dict."""
    extra = {}
    for item in items or []:
        function, sep, target = item.partition("=")
        if not sep:
            raise ConfigError(
                f"--attach-target {item!r} is not FUNCTION=TARGET", fix="e.g. my_fentry=do_unlinkat"
            )
        extra[function] = target
    return extra


def _load_reports(reports: list[Any], extra_targets: dict[str, str] | None = None) -> None:
    from buildbpf import check as checker
    from buildbpf import verifier
    from buildbpf.toolchain import pin_from, resolve_rust

    verifier.require_privilege()
    binary = verifier.loader_binary(resolve_rust(pin_from(None, Path.cwd())))
    for report in reports:
        if report.programs:
            checker.add_loads(report, binary, extra_targets or {})


def _print_report(report: object, full_log: bool = False) -> None:
    from buildbpf.check import Report

    assert isinstance(report, Report)
    verdict = typer.style("ok" if report.ok else "FAIL", fg="green" if report.ok else "red", bold=True)
    typer.echo(f"{verdict}  {report.path}  ({report.size} bytes, sha256 {report.sha256[:16]}...)")
    for program in report.programs:
        typer.echo(
            f"      program {program.function}: {program.type}, section {program.section}, "
            f"{program.instructions} instructions"
        )
    for item in report.maps:
        typer.echo(
            f"      map {item.name}: {item.type}, key {item.key_size} B, value {item.value_size} B, "
            f"max {item.max_entries}"
        )
    if report.license is not None:
        compatible = "GPL-compatible" if report.gpl_compatible else "not GPL-compatible"
        typer.echo(f"      license {report.license!r} ({compatible})")
    typer.echo(f"      BTF: {f'{report.btf_types} types' if report.btf else 'none'}")
    if report.undefined:
        typer.echo(f"      undefined symbols: {', '.join(report.undefined)}")
    for warning in report.warnings:
        typer.echo(f"      warning: {warning}")
    for note in report.notes:
        typer.echo(f"      note: {note}")
    for verdict in report.attach:
        state = {True: "found", False: "MISSING", None: "not checked"}[verdict.found]
        typer.echo(f"      attach target {verdict.kind} {verdict.target}: {state}")
    for loaded in report.loads:
        if loaded.ok:
            typer.echo(
                f"      verifier: {loaded.name} passed: {loaded.translated_insns} insns translated, "
                f"{loaded.verified_insns} processed, {loaded.jited_bytes} bytes jited"
            )
            continue
        if loaded.status == "not verified":
            typer.echo(f"      verifier: {loaded.name} not verified here (see the warning)")
            continue
        typer.echo(f"      verifier: {loaded.name} REJECTED: {loaded.error}")
        lines = (loaded.verifier_log or "").rstrip().splitlines()
        for line in lines if full_log else lines[-15:]:
            typer.echo(f"        | {line}")
    for problem in report.problems:
        typer.echo(f"      problem: {problem}")


@app.command()
def kernels(
    fetch: Annotated[
        str | None, typer.Option("--fetch", help="Download these kernels now (e.g. lts,latest).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the table and the cache as JSON.")] = False,
    lock: Annotated[
        bool, typer.Option("--lock", help="Pin the exact packages in buildbpf-kernels.lock (commit it).")
    ] = False,
) -> None:
    """The kernels `check --kernel` can boot (Debian's cloud-amd64 builds) and those already cached."""
    from buildbpf.kernels import command

    command.kernels(fetch, as_json, lock)


@app.command()
def schema() -> None:
    """Print the JSON schema of buildbpf.toml."""
    from buildbpf.settings import schema as make_schema

    print(json.dumps(make_schema(), indent=2))


def _report(error: BuildbpfError, debug: bool, as_json: bool = False) -> int:
    if debug:
        traceback.print_exc()
    return render(error, as_json=as_json)


# What a failed call was doing, by the function that raised (the innermost frame): the
# last-resort handler below names it, since an OSError carries only the path and errno.
_OPERATIONS = {
    "mkdir": "create the directory",
    "makedirs": "create the directory",
    "open": "open",
    "read_text": "read",
    "read_bytes": "read",
    "write_text": "write",
    "write_bytes": "write",
    "write": "write",
    "unlink": "remove",
    "rmdir": "remove the directory",
    "rmtree": "remove the directory",
    "replace": "rename",
    "rename": "rename",
    "chmod": "change the mode of",
    "symlink_to": "create the symbolic link",
    "copyfile": "copy",
    "copy2": "copy",
    "iterdir": "list the directory",
    "scandir": "list the directory",
    "mkstemp": "create a temporary file in",
    "mkdtemp": "create a temporary directory in",
    "stat": "look at",
}


def _operation(exc: OSError) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.name in _OPERATIONS:
            return _OPERATIONS[frame.name]
    return f"access (in {frames[-1].name})" if frames else "access"


def run_cli(argv: list[str]) -> int:
    """Run the CLI on `argv`; the one place errors become messages and exit codes.

    In a JSON mode (`--json`, `--print-plan`, `--message-format json`) every error is also one
    `{"error": {...}}` object on stdout. An OSError no domain error explains is a
    FileSystemError (exit 8) naming the path, the operation and the errno; `--debug` shows
    the traceback.
    """
    from buildbpf import replay

    debug = "--debug" in argv
    as_json = wants_json(argv)
    try:
        Path.cwd()
    except OSError as exc:
        if argv and not {"--help", "-h"} & set(argv):
            gone = f"the current directory is gone ({exc.strerror})"
            return _report(ConfigError(gone, fix="cd into the workspace again"), debug, as_json)
    recorder = replay.begin(argv)
    try:
        # in a JSON mode typer must not print usage errors itself: they become JSON too
        code = app(args=argv, prog_name="buildbpf", obj=recorder, standalone_mode=not as_json)
        return code if isinstance(code, int) else 0
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BuildbpfError as error:
        return _report(error, debug, as_json)
    except (KeyboardInterrupt, typer.Abort):
        return _report(Interrupted("interrupted"), debug, as_json)
    except typer.TyperException as usage:  # only reached in a JSON mode (standalone_mode=False)
        show = getattr(usage, "show", None)
        if show is not None:
            show()
        exit_code = int(getattr(usage, "exit_code", 2))
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        print(error_json("usage error", message, "see `buildbpf --help`", exit_code))
        return exit_code
    except OSError as exc:  # last resort: no traceback for a read-only, immutable or full disk
        return _report(FileSystemError.from_os(exc, _operation(exc)), debug, as_json)
    finally:
        if recorder is not None:
            recorder.close()
