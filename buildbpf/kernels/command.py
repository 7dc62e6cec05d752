"""What the CLI calls: `check --kernel` on the reports of `check`, and `buildbpf kernels`.

Imports inside functions: `build` imports this module on every full-path run, most of them
without --kernel.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from buildbpf.kernels import matrix


def requests(kernels: list[str], images: list[Path]) -> list[str]:
    """The kernels to boot: `--kernel` items (aliases expanded), then `--kernel-image` paths."""
    from buildbpf.kernels import catalog

    found = catalog.expand(kernels) if kernels else []
    return found + [f"path:{image}" for image in images if f"path:{image}" not in found]


def check_reports(reports: list[Any], wanted: list[str], extra_targets: dict[str, str],
                  timeout: float | None = None) -> matrix.Matrix:  # fmt: skip
    """Boot every kernel in `wanted` with every object of `reports` (check.Report) that has programs."""
    from buildbpf import verifier
    from buildbpf.kernels import guest, matrix, qemu, verify
    from buildbpf.toolchain import pin_from, resolve_rust

    chosen = [r for r in reports if r.programs and r.corrupt is None]
    names = [Path(r.path).name for r in chosen]
    objects, all_sections = [], []
    for report, name in zip(chosen, names, strict=True):
        sections = {p.function: p.section for p in report.programs}
        all_sections.append(sections)
        targets = dict(t.split("=", 1) for t in verifier.attach_targets(sections)) | extra_targets
        objects.append((Path(report.path), name if names.count(name) == 1 else report.path, targets))
    if not objects:
        return matrix.Matrix()
    helper = guest.static_helper(resolve_rust(pin_from(None, Path.cwd())))
    timeout = timeout or qemu.DEFAULT_TIMEOUT
    return verify.check(objects, wanted, helper, timeout=timeout, sections=all_sections)


def show(result: matrix.Matrix, reports: list[Any], as_json: bool) -> int:
    """Print the matrix (after the reports, which the caller printed as text); its exit code."""
    from buildbpf.kernels import matrix

    if as_json:
        print(json.dumps({"objects": [r.as_json() for r in reports], "kernels": result.as_json()}, indent=2))
    else:
        typer.echo("")
        for line in matrix.render(result):
            typer.echo(line)
    return result.exit_code()


def after_build(reports: list[Any], kernels: list[str] | None, effective: list[Any]) -> matrix.Matrix | None:
    """`build --kernel` (or `build --check` with `kernels`/`min_kernel` in the crates'
    settings, `effective`): the built objects on those kernels; None when none is asked for."""
    from buildbpf.settings import configured_kernels

    configured = [k for e in effective for k in configured_kernels(e)] if reports else []
    wanted = kernels or list(dict.fromkeys(configured))
    return check_reports(reports, requests(wanted, []), {}) if wanted else None


def as_json(result: matrix.Matrix | None) -> dict[str, Any]:
    return {"kernels": result.as_json()} if result is not None else {}


def finish(result: matrix.Matrix | None, human: bool) -> int:
    """Print the matrix of `build --kernel` (JSON has it already); its exit code."""
    from buildbpf.kernels import matrix

    if result is None:
        return 0
    if human:
        typer.echo("")
        for line in matrix.render(result):
            typer.echo(line)
    return result.exit_code()


def kernels(fetch_spec: str | None, as_json: bool, lock: bool = False) -> None:
    """`buildbpf kernels`: the table and the cache; with `--fetch`, download those first; with
    `--lock`, pin them (or what the lock holds, else lts + latest) in buildbpf-kernels.lock."""
    from buildbpf.kernels import catalog, fetch, verify
    from buildbpf.kernels import lock as locking

    if lock:
        path = locking.lock(catalog.expand(fetch_spec) if fetch_spec else [])
        typer.echo(f"wrote {path}", err=True)
    fetched = [fetch.resolve(r) for r in catalog.expand(fetch_spec)] if fetch_spec else []
    if as_json:
        cached = fetch.cached()
        data = {
            "table": {v: {"suite": s, "note": n} for v, (s, n) in catalog.KERNELS.items()},
            "aliases": catalog.ALIASES,
            "cached": [{**vars(k), "vmlinuz": str(k.vmlinuz), "config": str(k.config)} for k in cached],
            "fetched": [k.name for k in fetched],
        }
        print(json.dumps(data, indent=2))
        return
    for line in verify.listing():
        typer.echo(line)
