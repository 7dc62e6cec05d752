"""How results look to a person (and, for `config`, as JSON): lines only, no decisions."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from buildbpf.build.context import Context
    from buildbpf.build.layout import Published
    from buildbpf.build.pipeline import BuildResult
    from buildbpf.kernels.matrix import Matrix
    from buildbpf.objects.report import ObjectReport


def verbose_notice() -> Callable[[str], None] | None:
    """Where the toolchain's notice (RUSTC_BOOTSTRAP=1) goes: stderr with -v, else nowhere
    (the plan and `doctor` show the mode too)."""
    if not logging.getLogger("buildbpf").isEnabledFor(logging.DEBUG):
        return None
    return lambda line: typer.echo(line, err=True)


def object_line(obj: Published) -> str:
    """One verified object: crate, byte order, path, size, programs with their instruction counts."""
    if obj.instructions:
        programs = ", ".join(f"{name} ({count} insns)" for name, count in obj.instructions)
    else:
        programs = ", ".join(obj.programs)
    license = f"license {obj.license}" if obj.license is not None else "no license section (Aya says GPL)"
    where = f"verified {obj.crate} ({obj.target}): {obj.path}"
    return f"{where} — {obj.size} bytes, programs: {programs}; {license}"


def build_lines(result: BuildResult) -> list[str]:
    """What a finished build prints: each verified object, then the userspace binaries."""
    assert result.executed is not None
    from buildbpf.build.layout import once

    lines = [object_line(obj) for obj in once(result.executed.objects)]
    if result.executed.binaries:
        lines += [f"built {path.name}: {path}" for path in result.executed.binaries]
    elif result.executed.userspace:
        lines.append(f"built userspace: {', '.join(result.executed.userspace)}")
    return lines


def dry_run_lines(result: BuildResult) -> list[str]:
    """What `build --dry-run` prints: each config it would write, each cargo call it would run."""
    assert result.executed is not None
    lines = [
        f"would {outcome.status}: {outcome.path}"
        if outcome.status != "unchanged"
        else f"unchanged: {outcome.path}"
        for outcome in result.executed.configs
    ]
    return lines + [f"would run: {call.shell_line()}" for call in result.plan.calls]


def build_json(result: BuildResult) -> str:
    """What a finished build prints with `--message-format json`."""
    assert result.executed is not None
    data = {**result.executed.as_json(), "checks": [r.as_json() for r in result.reports]}
    if result.on_kernels is not None:
        data["kernels"] = result.on_kernels.as_json()
    return json.dumps(data, indent=2) + "\n"


def print_report(report: ObjectReport, full_log: bool = False) -> None:
    """Print one object's report; the verifier log's last 15 lines unless `full_log`."""
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
    if report.kernel_types:  # the differences follow as warnings
        kinds = [f"{t['type']} ({'same' if t['same'] else 'differs'})" for t in report.kernel_types]
        typer.echo(f"      kernel structs read at fixed offsets, against this kernel: {', '.join(kinds)}")
    blocked = {b.section: b for b in report.cannot_attach}
    for warning in report.warnings:
        if any(warning == b.message for b in blocked.values()):  # shown with the attach lines
            continue
        typer.echo(f"      warning: {warning}")
    for note in report.notes:
        typer.echo(f"      note: {note}")
    for attach in report.attach:
        state = {True: "found", False: "MISSING", None: "not checked"}[attach.found]
        if attach.section in blocked:
            state += f", but this kernel cannot attach {blocked[attach.section].mechanism} programs"
        typer.echo(f"      attach target {attach.kind} {attach.target}: {state}")
    for block in report.cannot_attach:
        typer.echo("      " + typer.style(f"warning: {block.message}", fg="yellow", bold=True))
    _print_loads(report, full_log)
    for problem in report.problems:
        typer.echo(f"      problem: {problem}")


def _print_loads(report: ObjectReport, full_log: bool) -> None:
    """The verifier's verdict on each program of a report."""
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
        if loaded.source:
            text = f": {loaded.source_text}" if loaded.source_text else ""
            typer.echo(f"        at {loaded.source}{text}")
        lines = (loaded.verifier_log or "").rstrip().splitlines()
        for line in lines if full_log else lines[-15:]:
            typer.echo(f"        | {line}")


def config_data(context: Context, environ: Mapping[str, str]) -> dict[str, Any]:
    """The effective settings of every crate and where each came from, as `config --json` prints."""
    from buildbpf.build.precedence import cargo_timeout
    from buildbpf.build.settings import describe

    timeout = cargo_timeout(context.config, environ)
    return {
        "config_file": str(context.config.path) if context.config.path else None,
        "toolchain": context.toolchain.rust.describe(),
        "bpf_linker": context.toolchain.linker.describe(),
        "cargo_timeout": {
            "value": timeout.value,
            "source": timeout.source.name.lower(),
            "origin": timeout.origin,
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


def config_lines(data: Mapping[str, Any]) -> list[str]:
    """`config_data` for a person: one line per setting, with where it came from."""
    timeout = data["cargo_timeout"]
    lines = [
        f"config file: {data['config_file'] or '(none: zero-config)'}",
        f"toolchain:   {data['toolchain']}",
        f"bpf-linker:  {data['bpf_linker']}",
        f"cargo timeout: {timeout['value']:g} s    # {timeout['source']}: {timeout['origin']}",
    ]
    for name, crate in data["crates"].items():
        lines.append(f"\n[{name}] role = {crate['role']}")
        if crate["role"] != "ebpf":
            continue
        for key, value in crate["settings"].items():
            lines.append(f"  {key} = {json.dumps(value['value'])}    # {value['source']}: {value['origin']}")
    return lines


def _escape(text: str, *, property_value: bool = False) -> str:
    """GitHub's workflow-command escaping (properties also escape `:` and `,`)."""
    text = text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")
    return text.replace(":", "%3A").replace(",", "%2C") if property_value else text


def _annotation(source: str | None, fallback: str, title: str, message: str) -> str:
    place = f"file={_escape(fallback, property_value=True)}"
    if source:
        file, _, rest = source.partition(":")
        line, _, column = rest.partition(":")
        place = f"file={_escape(file, property_value=True)},line={line}{f',col={column}' if column else ''}"
    return f"::error {place},title={_escape(title, property_value=True)}::{_escape(message)}"


def judged_line(log: str) -> str | None:
    """The verifier's own words: the first log line after the last instruction it printed."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    after = [n for n, line in enumerate(lines) if line[:1].isdigit() and ": (" in line[:12]]
    return lines[after[-1] + 1] if after and after[-1] + 1 < len(lines) else None


def github_annotations(reports: Sequence[ObjectReport], on_kernels: Matrix | None) -> list[str]:
    """Workflow commands (`::error file=…,line=…::…`) for gate problems and verifier rejections,
    at the source line where the object's line info tells it: GitHub shows them on the diff."""
    lines = []
    for report in reports:
        rejected = {load.name for load in report.loads if load.status == "rejected"}
        for problem in report.problems:
            if not any(problem.startswith(f"load: program {name} rejected") for name in rejected):
                lines.append(_annotation(None, report.path, "buildbpf: eBPF object rejected", problem))
        for load in report.loads:
            if load.status == "rejected":
                title = f"buildbpf: {load.name} rejected by the verifier"
                said = judged_line(load.verifier_log or "")
                lines.append(_annotation(load.source, report.path, title, f"{said or load.error}"))
    if on_kernels is not None:
        for row in on_kernels.rows:
            for request, cell in row.cells.items():
                if cell.status in ("fail", "cannot attach"):
                    title = f"buildbpf: {row.program} {cell.status} on Linux {request}"
                    reason = cell.reason or cell.error or cell.status
                    lines.append(_annotation(cell.source, row.object, title, reason))
    return lines
