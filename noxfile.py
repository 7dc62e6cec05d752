"""Developer and CI entry points: `nox -s tests`, `lint`, `typecheck`, `ebpf`."""

from __future__ import annotations

import os
from pathlib import Path

import nox

nox.options.sessions = ["lint", "typecheck", "tests"]
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = True


@nox.session
def tests(session: nox.Session) -> None:
    """Unit and integration tests (integration uses the real toolchain and kernel)."""
    session.install("-e", ".[test]")
    session.run("pytest", *session.posargs)


@nox.session
def unit(session: nox.Session) -> None:
    """Unit tests only: no cargo, no kernel, a few seconds."""
    session.install("-e", ".[test]")
    session.run("pytest", "tests/unit", *session.posargs)


@nox.session
def ebpf(session: nox.Session) -> None:
    """Build every example with `buildbpf build --release`: the artifact gate checks each object,
    then `check` inspects it, and as root `check --load` runs it through the kernel verifier."""
    session.install("-e", ".")
    verify = "--load" if os.geteuid() == 0 else "--check"
    for example in sorted(Path("examples").iterdir()):
        if (example / "Cargo.toml").is_file():
            with session.chdir(example):
                session.run("buildbpf", "build", "--release", verify)


@nox.session
def bench(session: nox.Session) -> None:
    """buildbpf against the cargo calls it makes: startup, no-op, cold build, check, output quality."""
    session.install("-e", ".")
    session.run("python", "benchmarks/bench.py", *session.posargs)


@nox.session
def lint(session: nox.Session) -> None:
    """ruff over the package, the tests and this file."""
    session.install("ruff>=0.6")
    session.run("ruff", "check", "buildbpf", "tests", "benchmarks", "noxfile.py")


@nox.session
def typecheck(session: nox.Session) -> None:
    """mypy --strict over the package and this file."""
    session.install("-e", ".", "mypy>=1.11", "nox>=2024.4")
    session.run("mypy")
