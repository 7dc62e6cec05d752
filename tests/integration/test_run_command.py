"""`buildbpf run` builds a generated workspace and runs its loader; `cargo run` alone points
at `buildbpf run`."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf
from tests.support import skip_or_fail


@pytest.fixture
def xdp_project(tmp_path: Path) -> Path:
    project = tmp_path / "runme"
    done = buildbpf("init", str(project), "-t", "xdp", "-o", "iface=lo")
    assert done.returncode == 0, done.stderr
    return project


def test_run_builds_then_runs_the_loader_through_the_runner(
    toolchain: Toolchain, xdp_project: Path, shared_target: Path
) -> None:
    if os.geteuid() != 0:
        skip_or_fail("attaching XDP needs root")
    # a runner that says it ran, then starts the binary with its arguments
    runner = 'sh -c \'echo via-runner; exec "$0" "$@"\''
    env = dict(os.environ, BUILDBPF_RUNNER=runner)
    env.pop("CARGO_TARGET_DIR", None)
    # --target-dir: cargo builds there, the objects are published there, the binary is found there
    target = ["--target-dir", str(shared_target)]
    done = buildbpf("run", "--release", *target, "--", "--seconds", "1", cwd=xdp_project, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    # the build's report is on stderr, the program's output alone on stdout
    assert f"verified runme-ebpf (bpfel): {shared_target}/buildbpf/bpfel-unknown-none/runme" in done.stderr
    assert not (xdp_project / "target").exists()
    assert "buildbpf: running sh -c" in done.stderr and "(runner from BUILDBPF_RUNNER)" in done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "via-runner"
    assert "attached runme: xdp on lo (SKB mode)" in lines
    assert any(line.startswith("events: ") for line in lines), done.stdout
    # the program's aya-log record, printed by the loader (the loader sends itself a packet)
    assert any(line.startswith("[INFO] runme") for line in lines), done.stdout
    # the program's exit code is buildbpf's: a bad argument fails as the program does
    bad = buildbpf("run", "--release", *target, "--", "--nope", "1", cwd=xdp_project, env=env)
    assert bad.returncode == 1
    assert "unknown option --nope" in bad.stderr


def test_cargo_run_alone_points_at_buildbpf_run(
    toolchain: Toolchain, xdp_project: Path, shared_target: Path
) -> None:
    rust = toolchain.rust
    env = {k: v for k, v in os.environ.items() if k != "BUILDBPF_OBJECTS"}
    env.update({k: v for k, v in rust.cargo_env().items() if k != "RUSTC_BOOTSTRAP"})
    env["CARGO_TARGET_DIR"] = str(shared_target)
    done = subprocess.run([str(rust.cargo), "run", "--release"], cwd=xdp_project, env=env,
                          capture_output=True, text=True, timeout=1200, check=False)  # fmt: skip
    assert done.returncode != 0
    assert "BUILDBPF_OBJECTS is not set: `cargo run` cannot build this crate by itself" in done.stderr
    assert "use `buildbpf run`" in done.stderr
    assert "not defined at compile time" not in done.stderr, done.stderr[-3000:]


def test_clean_names_buildbpfs_output_and_all_adds_cargo_clean(
    toolchain: Toolchain, xdp_project: Path, shared_target: Path
) -> None:
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    built = buildbpf("build", "--release", cwd=xdp_project, env=env)
    assert built.returncode == 0, built.stderr[-5000:]
    done = buildbpf("clean", "--all", "--dry-run", cwd=xdp_project, env=env)  # the target dir is shared
    assert done.returncode == 0, done.stderr
    assert done.stderr == "", done.stderr  # a target dir cargo made holds nothing to leave
    lines = done.stdout.splitlines()
    assert f"would remove {shared_target / 'buildbpf'}" in lines
    assert any(line.startswith("would run: cd ") and line.endswith(f" clean --target-dir {shared_target}")
               for line in lines), lines
    assert (shared_target / "buildbpf").is_dir()


def test_clean_and_build_leave_what_buildbpf_did_not_make(toolchain: Toolchain, xdp_project: Path) -> None:
    """A folder of the user's named `buildbpf` where the objects would go, and target dirs that
    hold the workspace: nothing of the user's is removed or written, and `--all` refuses."""
    mine = xdp_project / "buildbpf"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine\n")
    done = buildbpf("clean", "--target-dir", ".", cwd=xdp_project)
    assert done.returncode == 0, done.stderr
    assert "nothing to remove" in done.stdout
    assert f"left {mine}: not buildbpf's output directory" in done.stderr
    refused = [(("--all", "--target-dir", "."), {}), (("--all", "--dry-run"), {"CARGO_TARGET_DIR": "/"}),
               (("--all",), {"CARGO_TARGET_DIR": str(xdp_project.parent)})]
    for args, env in refused:
        done = buildbpf("clean", *args, cwd=xdp_project, env={**os.environ, **env})
        assert done.returncode == 2, (args, env, done.stdout, done.stderr)
        assert "refusing to run `cargo clean`" in done.stderr and "would run" not in done.stdout
    built = buildbpf("build", "--release", "--target-dir", ".", cwd=xdp_project)
    assert built.returncode == 2, built.stderr[-3000:]
    assert f"{mine} is not buildbpf's output directory (it holds notes.txt)" in built.stderr
    assert not (xdp_project / "release").exists()  # refused before compiling anything
    assert sorted(p.name for p in mine.iterdir()) == ["notes.txt"]
    assert (mine / "notes.txt").read_text() == "mine\n" and (xdp_project / "Cargo.toml").is_file()
