"""`buildbpf kernels --lock`: pin the exact kernel packages, for checks that do not move.

`buildbpf-kernels.lock` (TOML, next to buildbpf.toml, meant to be committed) maps each
request ("5.10", "latest") to the release, the Debian packages (name, version, sha256) and
the sha256 of the vmlinuz they hold. While it exists, `check --kernel` boots exactly those;
a package Debian has since dropped (security suites keep only the newest) is an error that
says how to move the lock forward.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomlkit

from buildbpf.kernels import fetch

NAME = "buildbpf-kernels.lock"
HEADER = "written by `buildbpf kernels --lock`: check --kernel boots exactly these kernels"


def find(start: Path | None = None) -> Path | None:
    """The lock file of the project around `start` (the nearest one upwards), or None."""
    here = (start or Path.cwd()).resolve()
    for directory in (here, *here.parents):
        if (directory / NAME).is_file():
            return directory / NAME
    return None


def read(path: Path) -> dict[str, dict[str, Any]]:
    data = tomlkit.parse(path.read_text()).unwrap()
    kernels = data.get("kernels", {})
    return kernels if isinstance(kernels, dict) else {}


def locked(request: str, start: Path | None = None) -> dict[str, Any] | None:
    """What the lock file says about `request`, or None (no lock file, or not in it)."""
    path = find(start)
    return read(path).get(request) if path is not None else None


def fetch_locked(base: Path, request: str, entry: dict[str, Any]) -> fetch.Kernel:
    """The locked kernel: from the cache when its vmlinuz matches, else exactly its packages."""
    release = str(entry["release"])
    kernel = fetch.load_cached(fetch.entry(base, release))
    if kernel is None or kernel.sha256 != entry["vmlinuz_sha256"]:
        pinned = [f"{p['name']}={p['version']}" for p in entry["packages"]]
        try:
            fetch.update_lists(base)
            kernel = fetch.download(base, pinned[0].split("=")[0], release, pinned)
        except fetch.FetchError as error:
            raise fetch.FetchError(
                f"the locked kernel {request} ({', '.join(pinned)}) cannot be fetched: {error.message}",
                fix=f"`buildbpf kernels --lock` moves {NAME} to what Debian has now",
            ) from error
    if kernel.sha256 != entry["vmlinuz_sha256"]:
        raise fetch.FetchError(f"{request}: vmlinuz of {release} does not match the sha256 in {NAME}",
                               fix=f"delete {kernel.vmlinuz.parent} and run again")  # fmt: skip
    return kernel


def write(path: Path, kernels: dict[str, fetch.Kernel]) -> None:
    """Write the lock file for these requests (replacing it)."""
    document = tomlkit.document()
    document.add(tomlkit.comment(HEADER))
    table = tomlkit.table()
    for request, kernel in kernels.items():
        entry = tomlkit.table()
        entry.add("release", kernel.name)
        entry.add("vmlinuz_sha256", kernel.sha256)
        packages = tomlkit.array()
        for package in kernel.packages:
            inline = tomlkit.inline_table()
            inline.update(package)
            packages.append(inline)
        entry.add("packages", packages.multiline(True))
        table.add(request, entry)
    document.add("kernels", table)
    path.write_text(tomlkit.dumps(document))


def lock(spec: list[str], start: Path | None = None) -> Path:
    """Resolve `spec` (or what the lock already holds, else lts + latest) afresh and write the lock."""
    from buildbpf.kernels import catalog

    existing = find(start)
    path = existing or (start or Path.cwd()) / NAME
    requests = spec or (list(read(existing)) if existing else catalog.expand("lts,latest"))
    # what Debian has now, not what was locked
    kernels = {r: fetch.resolve(r, use_lock=False) for r in requests if not r.startswith("path:")}
    write(path, kernels)
    return path
