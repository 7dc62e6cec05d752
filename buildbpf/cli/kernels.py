"""`buildbpf kernels`, and the kernel matrix of `check --kernel` / `build --kernel` rendered.

Imports inside functions: `build` imports this module on every full-path run, most of them
without --kernel.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from buildbpf.kernels import matrix


def show(result: matrix.Matrix, reports: list[Any], as_json: bool, full_log: bool = False) -> int:
    """Print the matrix (after the reports, which the caller printed as text); its exit code."""
    if as_json:
        print(json.dumps({"objects": [r.as_json() for r in reports], "kernels": result.as_json()}, indent=2))
        return result.exit_code()
    return finish(result, human=True, full_log=full_log)


def finish(result: matrix.Matrix | None, human: bool, full_log: bool = False) -> int:
    """Print the matrix of `build --kernel` (JSON has it already); its exit code."""
    from buildbpf.kernels import matrix

    if result is None:
        return 0
    if human:
        typer.echo("")
        for line in matrix.render(result, full_log):
            typer.echo(line)
    return result.exit_code()


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
    fetch_spec = fetch
    from buildbpf.kernels import catalog, verify
    from buildbpf.kernels import fetch as fetching
    from buildbpf.kernels import lock as locking

    if lock:
        path = locking.lock(catalog.expand(fetch_spec) if fetch_spec else [])
        typer.echo(f"wrote {path}", err=True)
    fetched = [fetching.resolve(r) for r in catalog.expand(fetch_spec)] if fetch_spec else []
    if as_json:
        cached = fetching.cached()
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
