"""CI entry points of this eBPF workspace: `nox` runs ebpf, lint and test; `nox -s kernels`
verifies every program on the kernels buildbpf.toml names. Written by `buildbpf init`
(buildbpf 0.1.0); .github/workflows/ebpf.yml runs the same sessions."""

from __future__ import annotations

import shutil
import subprocess

import nox

nox.options.sessions = ["ebpf", "lint", "test"]
BUILDBPF_VERSION = "0.1.0"  # what this project was made with; CI installs it


def buildbpf(session: nox.Session) -> str:
    """The installed buildbpf (so this works offline); a different version is said, not fatal."""
    found = shutil.which("buildbpf")
    if found is None:
        session.error(f"buildbpf is not installed: pip install buildbpf=={BUILDBPF_VERSION}")
    said = subprocess.run([found, "--version"], capture_output=True, text=True, check=False).stdout.split()
    if said[-1:] != [BUILDBPF_VERSION]:
        installed = " ".join(said[-1:]) or "?"
        session.warn(f"buildbpf {installed} is installed; this project pins {BUILDBPF_VERSION}")
    return found


@nox.session(python=False)
def ebpf(session: nox.Session) -> None:
    """Build every eBPF object, gate it, check it (and, with kernels in buildbpf.toml, verify
    it there), then build userspace."""
    session.run(buildbpf(session), "build", "--release", "--check", *session.posargs, external=True)


@nox.session(python=False)
def lint(session: nox.Session) -> None:
    """clippy on the eBPF crate (bpf target, build-std) and on userspace, warnings as errors."""
    session.run(buildbpf(session), "lint", "--release", "--", "-D", "warnings", external=True)


@nox.session(python=False)
def test(session: nox.Session) -> None:
    """The tests of the crates that run on the host (the eBPF crate is not a default member)."""
    session.run("cargo", "test", "--release", *session.posargs, external=True)


@nox.session(python=False)
def kernels(session: nox.Session) -> None:
    """Every program through the verifier of each kernel: `nox -s kernels -- 5.10,6.1,latest`."""
    wanted = session.posargs or ["lts"]
    session.run(buildbpf(session), "check", "--kernel", ",".join(wanted), "--junit", "kernels.xml",
                external=True)
