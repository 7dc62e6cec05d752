"""Project names that would clash with a package the generated workspace depends on.

The generated workspace's own crates (`NAME`, `NAME-common`, `NAME-ebpf`): none may share a
name with a package of its dependency graph, or `cargo build -p NAME` is ambiguous.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

from buildbpf.errors import ConfigError
from buildbpf.scaffold.lockfile import PLACEHOLDER, locked_packages, own_crates
from buildbpf.scaffold.program_types import find_program_type
from buildbpf.scaffold.render import render_workspace
from buildbpf.scaffold.templates import templates_root


def _normal(crate: str) -> str:
    # cargo and rustc treat `-` and `_` alike in a crate's library name: `aya_ebpf` clashes too
    return crate.replace("-", "_")


@functools.cache
def dependency_names() -> frozenset[str]:
    """Every package name the generated workspace depends on, directly or not.

    Direct ones come from the templates' Cargo.toml files; the rest from
    `templates/Cargo.lock`, the lock `init` writes (an integration test keeps it true).
    """
    import tomllib

    names: set[str] = set()
    placeholder = find_program_type("xdp")
    for rendered in render_workspace(PLACEHOLDER, placeholder, placeholder.options):
        if rendered.relative.name == "Cargo.toml":
            names |= registry_dependencies(tomllib.loads(rendered.text))
    names |= {package["name"] for package in locked_packages(templates_root())}
    return frozenset(names - set(own_crates(PLACEHOLDER)))


def registry_dependencies(manifest: Mapping[str, Any]) -> set[str]:
    """Dependency names of a Cargo.toml that are not path dependencies (the workspace's own)."""
    tables = [manifest.get("workspace", {}), manifest, *manifest.get("target", {}).values()]
    names = set()
    for table in tables:
        for kind in ("dependencies", "dev-dependencies", "build-dependencies"):
            for key, spec in table.get(kind, {}).items():
                if isinstance(spec, dict) and "path" in spec:
                    continue
                package = spec.get("package", key) if isinstance(spec, dict) else key
                names.add(package)
    return names


def refuse_dependency_names(name: str) -> None:
    """A ConfigError when one of the crates `init` would make is named like a dependency."""
    taken = {_normal(dependency): dependency for dependency in dependency_names()}
    for crate in own_crates(name):
        if _normal(crate) in taken:
            raise ConfigError(
                f"project name {name!r} makes a crate `{crate}`, and the generated workspace already "
                f"depends on a package `{taken[_normal(crate)]}`: cargo could not tell them apart "
                "(`cargo build -p` fails with \"specification is ambiguous\")",
                fix=f"pick another name, e.g. --name {name}-probe",
            )
