"""The daily commands on real-world layouts, not only `build`: `run`, `check` (workspace mode
and `--kernel`) and `lint` on the aya-build template layout and on the xtask-era layout
(tests/integration/fixtures/layouts/README.md says which public projects each one copies).

Each workspace is a committed git repository: no command may leave `git status` dirty.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from buildbpf.kernels import qemu
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf
from tests.integration.test_layouts import committed_copy, git
from tests.support import skip_or_fail


@pytest.fixture(autouse=True)
def root() -> None:
    if os.geteuid() != 0:
        skip_or_fail("`buildbpf run` of an XDP loader needs root")


def packets(stdout: str) -> int:
    return int(stdout.split("packets:", 1)[1].split(maxsplit=1)[0])


def test_template_layout_run_check_and_lint(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # aya-build in the userspace build.rs, `which("bpf-linker").unwrap()` in the eBPF build.rs
    workspace = committed_copy("current-template", tmp_path / "tmplxdp")
    env = {**os.environ, "CARGO_TARGET_DIR": str(shared_target)}
    env.pop("BUILDBPF_RUNNER", None)

    # the loader runs as `cargo run` would run it, with the arguments after `--`
    done = buildbpf("run", "--release", "--", "--seconds", "1", cwd=workspace, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert "running as root, directly" in done.stderr
    assert packets(done.stdout) >= 0
    # an argument the program refuses: its own error and exit code, not buildbpf's
    done = buildbpf("run", "--release", "--", "--bogus", cwd=workspace, env=env)
    assert done.returncode == 1, done.stderr[-3000:]
    assert "unknown argument: --bogus" in done.stderr

    # plain `check` finds what the build verified
    done = buildbpf("check", cwd=workspace, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "program tmplxdp: xdp" in done.stdout
    assert "kernel structs read at fixed offsets" not in done.stdout  # aya-ebpf's own (xdp_md) are not

    # clippy with the build's own eBPF call (bpf target, build-std), then on userspace, whose
    # build.rs runs aya-build's nested cargo
    # (the eBPF crate too, although aya-build, not buildbpf, builds it)
    done = buildbpf("lint", "--release", cwd=workspace, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert done.stdout.splitlines() == [
        "clippy passed: eBPF crates tmplxdp-ebpf (bpfel)",
        "clippy passed: userspace crates tmplxdp, tmplxdp-common",
    ]
    assert "--target bpfel-unknown-none" in done.stderr and "build-std=core" in done.stderr
    assert git(workspace, "status", "--porcelain") == ""


def test_xtask_era_layout_run_check_and_kernels(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # the eBPF crate is its own workspace; userspace bins are `xtask` and the loader
    workspace = committed_copy("xtask-era", tmp_path / "oldxdp")
    (workspace / "target").symlink_to(shared_target)
    env = {k: v for k, v in os.environ.items() if k not in ("CARGO_TARGET_DIR", "BUILDBPF_RUNNER")}

    # without -p: the crate that depends on aya runs, not the xtask
    done = buildbpf("run", "--release", "--", "--seconds", "1", cwd=workspace, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    assert packets(done.stdout) >= 0
    assert "target/release/oldxdp" in done.stderr

    done = buildbpf("check", cwd=workspace, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "program oldxdp: xdp" in done.stdout
    assert "no `license` section" in done.stdout  # the era's habit: a note, not a problem

    # the era's object (no license section) on the oldest kernel Debian still ships
    if shutil.which(qemu.QEMU) is None:
        skip_or_fail(f"{qemu.QEMU} is not installed (./bootstrap installs qemu-system-x86)")
    done = buildbpf("check", "--kernel", "5.10", cwd=workspace, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "oldxdp-ebpf oldxdp" in done.stdout or "oldxdp oldxdp" in done.stdout, done.stdout
    assert "pass (" in done.stdout
    assert " layout " not in done.stdout  # no struct of the kernel's read through bindings here
    assert git(workspace, "status", "--porcelain") == ""
