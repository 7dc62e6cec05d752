"""`buildbpf check --kernel` and `buildbpf kernels`: from requests and objects to a matrix."""

from __future__ import annotations

import sys
import tempfile
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from buildbpf.kernels import catalog, fetch, guest, matrix, qemu

if TYPE_CHECKING:
    from collections.abc import Sequence

    from buildbpf.objects.layouts import Layout
    from buildbpf.objects.report import ObjectReport
    from buildbpf.toolchain.rust import RustToolchain


def _job(kernel: fetch.Kernel, initrd: Path, workdir: Path, accel: str, timeout: float
         ) -> Callable[[threading.Event], qemu.GuestRun]:  # fmt: skip
    def boot(stop: threading.Event) -> qemu.GuestRun:
        return qemu.boot(kernel.vmlinuz, initrd, workdir, accel=accel, timeout=timeout, stop=stop)

    return boot


def check(
    objects: list[tuple[Path, str, dict[str, str]]],
    requests: list[str],
    helper: Path,
    *,
    timeout: float = qemu.DEFAULT_TIMEOUT,
    parallel: int = qemu.PARALLEL,
    sections: list[dict[str, str]] | None = None,
    full_log: bool = False,
    layouts_of: Sequence[tuple[str, list[Layout]]] | None = None,
) -> matrix.Matrix:
    """Boot every requested kernel with every object; `objects`: (path, label, attach targets),
    `sections`: each object's FUNCTION -> section (its kprobe/tracepoint targets are looked up),
    `full_log`: keep whole verifier logs."""
    qemu.qemu_binary()
    kernels = [fetch.resolve(r) for r in requests]
    layout_rows = compare_layouts(layouts_of or [], requests, kernels)
    usable, why = qemu.kvm_usable()
    accel = "kvm" if usable else "tcg"
    print(f"buildbpf: booting {len(kernels)} kernel(s) under QEMU ({accel}"
          f"{'' if usable else f': {why}'}), {parallel} at a time", file=sys.stderr, flush=True)  # fmt: skip
    result = matrix.Matrix(layouts=layout_rows)
    with tempfile.TemporaryDirectory(prefix="buildbpf-kernels-") as tmp:
        work = Path(tmp)
        initrd = work / "initrd.cpio"
        loads = [(path, targets) for path, _, targets in objects]
        initrd.write_bytes(guest.initrd(helper, loads, sections, full_log=full_log))
        labels = {f"/buildbpf/objects/{i}.o": label for i, (_, label, _) in enumerate(objects)}
        jobs = []
        for index, kernel in enumerate(kernels):
            (work / str(index)).mkdir()
            jobs.append(_job(kernel, initrd, work / str(index), accel, timeout))
        runs = qemu.run_all(jobs, parallel)
    for request, kernel, run in zip(requests, kernels, runs, strict=False):
        console = run.console if run.error else None
        column = matrix.Column(request, kernel.name, None, run.accel, round(run.seconds, 2), run.error,
                               console, kernel.packages, kernel.sha256)  # fmt: skip
        result.columns.append(column)
        if not run.error:
            matrix.add_kernel(result, column, run.lines, labels, full_log=full_log)
    return result


def compare_layouts(
    layouts_of: Sequence[tuple[str, list[Layout]]], requests: Sequence[str], kernels: Sequence[fetch.Kernel]
) -> list[matrix.LayoutRow]:
    """Each object's kernel structs against each kernel's BTF, read from its image (no boot);
    an object none of whose structs any kernel has gets no row."""
    from buildbpf.kernels import image_btf
    from buildbpf.objects import layouts

    if not layouts_of:
        return []
    btfs: list[layouts.KernelBtf | str] = []
    for kernel in kernels:
        try:
            btfs.append(layouts.read_kernel_btf(image_btf.btf_of(kernel.vmlinuz, kernel.sha256)))
        except (OSError, ValueError) as exc:
            btfs.append(str(exc))
    rows = []
    for label, found in layouts_of:
        row = matrix.LayoutRow(label, [])
        for request, btf in zip(requests, btfs, strict=True):
            if isinstance(btf, str):
                row.cells[request] = matrix.LayoutCell("unknown", reason=btf)
                continue
            verdicts = layouts.verdicts(found, btf)
            row.types = sorted({*row.types, *(v.name for v in verdicts)})
            differences = [d.describe(v.name, request) for v in verdicts for d in v.differences]
            row.cells[request] = matrix.LayoutCell("differs" if differences else "same", differences)
        if row.types:
            rows.append(row)
    return rows


def listing(base: Path | None = None) -> list[str]:
    """`buildbpf kernels`: the table, and what is in the cache."""
    lines = ["kernel  suite               note"]
    lines += [f"{v:<7} {suite:<19} {note}".rstrip() for v, (suite, note) in catalog.KERNELS.items()]
    lines.append(f"{catalog.LATEST:<7} {'any of them':<19} the newest cloud-amd64 image Debian has")
    lines += [f"{alias:<7} {'':<19} {', '.join(items)}" for alias, items in catalog.ALIASES.items()]
    root = base or fetch.root()
    found = fetch.cached(root)
    lines.append("")
    lines.append(f"cached in {root / 'images'}:" if found else f"nothing cached yet in {root / 'images'}")
    for kernel in found:
        where = ", ".join(f"{p['name']} {p['version']}" for p in kernel.packages)
        lines.append(
            f"  {kernel.series:<6} {kernel.name:<16} {where}  vmlinuz sha256 {kernel.sha256[:16]}..."
        )
    return lines


def _object_layouts(
    reports: Sequence[ObjectReport], labels: dict[str, str]
) -> list[tuple[str, list[Layout]]]:
    """The structs in each object's DWARF that could be kernel structs (see `objects.layouts`)."""
    from buildbpf.objects import layouts

    found = []
    for report in reports:
        try:
            structs = layouts.object_layouts(Path(report.path))
        except ValueError:
            continue  # `check` notes it on the object's report
        if structs:
            found.append((labels[report.path], structs))
    return found


def add_sources(result: matrix.Matrix, paths: dict[str, Path]) -> None:
    """Each refused cell with the source line of the instruction that kernel's verifier refused."""
    from buildbpf.objects import lineinfo

    tables: dict[str, dict[str, list[tuple[int, lineinfo.SourceLine]]]] = {}
    for row in result.rows:
        for cell in row.cells.values():
            if cell.status != "fail" or row.object not in paths:
                continue
            if row.object not in tables:
                try:
                    tables[row.object] = lineinfo.line_table(paths[row.object].read_bytes())
                except OSError:
                    tables[row.object] = {}
            insn = lineinfo.failing_instruction("\n".join(cell.log_tail))
            where = lineinfo.locate(tables[row.object], row.program, insn)
            if where is not None:
                cell.source = where.shown(Path.cwd())


def requests(kernels: Sequence[str], images: Sequence[Path]) -> list[str]:
    """The kernels to boot: `--kernel` items (aliases expanded), then `--kernel-image` paths."""
    found = catalog.expand(list(kernels)) if kernels else []
    return found + [f"path:{image}" for image in images if f"path:{image}" not in found]


def on_reports(
    reports: Sequence[ObjectReport],
    wanted: list[str],
    extra_targets: dict[str, str],
    rust: RustToolchain,
    timeout: float | None = None,
    *,
    full_log: bool = False,
) -> matrix.Matrix:
    """Boot every kernel in `wanted` with every object of `reports` that has programs; the
    static verifier helper is built with `rust`; `full_log`: keep whole verifier logs."""
    from buildbpf.objects import verifier
    from buildbpf.objects.check import unloadable

    usable = [r for r in reports if r.programs and r.corrupt is None]
    names = [Path(r.path).name for r in usable]
    labels = {r.path: n if names.count(n) == 1 else r.path for r, n in zip(usable, names, strict=True)}
    objects, all_sections = [], []
    guests = "every guest (x86_64)"
    foreign = {r.path: why for r in usable if (why := unloadable(r, "bpfel", guests)) is not None}
    for report in usable:
        if report.path in foreign:  # below: rows that say why
            continue
        # aya-bpf's section names are program names: nothing to look up, no target to load with
        named = not report.sections_name_programs
        sections = {p.function: p.section for p in report.programs} if named else {}
        all_sections.append(sections)
        targets = dict(t.split("=", 1) for t in verifier.attach_targets(sections)) | extra_targets
        objects.append((Path(report.path), labels[report.path], targets))
    result = matrix.Matrix()
    if objects:
        helper = guest.static_helper(rust)
        timeout = timeout or qemu.DEFAULT_TIMEOUT
        result = check(objects, wanted, helper, timeout=timeout, sections=all_sections, full_log=full_log,
                       layouts_of=_object_layouts(usable, labels))  # fmt: skip
    add_sources(result, {label: Path(path) for path, label in labels.items()})
    if foreign and not result.columns:
        result.columns = [matrix.Column(request, request, booted=False) for request in wanted]
    for report in (r for r in usable if r.path in foreign):
        why = foreign[report.path]
        for program in report.programs:
            cells = {request: matrix.Cell("not verified", reason=why) for request in wanted}
            result.rows.append(matrix.Row(labels[report.path], program.function, program.type, cells))
    return result
