"""Errors with the real cargo: what cargo said reaches the user whole (issue #11)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf


def test_a_broken_root_manifest_shows_cargos_whole_error(toolchain: Toolchain, tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "lib.rs").write_text("")
    (tmp_path / "Cargo.toml").write_text('[package]\nname = "x"\nversion = 1\n')
    done = buildbpf("config", cwd=tmp_path, timeout=300)
    assert done.returncode == 2
    assert "--> Cargo.toml:3:11" in done.stderr  # the location, not only cargo's first line
    assert "version = 1" in done.stderr
    assert done.stdout == ""
    done = buildbpf("config", "--json", cwd=tmp_path, timeout=300)
    error = json.loads(done.stdout)["error"]
    assert error["exit_code"] == 2 and "--> Cargo.toml:3:11" in error["message"]


EXAMPLE = Path(__file__).parents[2] / "examples" / "xdp-counter"


def test_a_runner_no_shell_can_split_stops_run_before_building(toolchain: Toolchain, tmp_path: Path) -> None:
    """Issue #20 item 8: `BUILDBPF_RUNNER='sudo "'` was a ValueError traceback after a full build."""
    project = tmp_path / "xdp-counter"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target"))
    env = dict(os.environ, BUILDBPF_RUNNER='sudo "', BUILDBPF_NO_REPLAY="1")
    done = buildbpf("run", "--release", cwd=project, env=env, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    assert "BUILDBPF_RUNNER='sudo \"' cannot be split into words" in done.stderr
    assert "Traceback" not in done.stderr
    assert "+ cargo build" not in done.stderr and not (project / "target").exists()  # nothing was built


def test_a_named_rustc_or_cargo_that_fails_says_which_and_how(toolchain: Toolchain, tmp_path: Path) -> None:
    """Issue #20 item 13: `BUILDBPF_RUSTC=/bin/false` said `/usr/bin/false -vV failed: `."""
    fake = tmp_path / "tc"
    (fake / "lib/rustlib/src/rust/library").mkdir(parents=True)
    (fake / "lib/rustlib/src/rust/library/Cargo.lock").write_text("")
    (fake / "bin").mkdir()
    for name in ("rustc", "cargo"):
        shutil.copy(shutil.which("false") or "/bin/false", fake / "bin" / name)
    project = tmp_path / "xdp-counter"
    shutil.copytree(EXAMPLE, project, ignore=shutil.ignore_patterns("target"))
    env = dict(os.environ, BUILDBPF_NO_REPLAY="1", BUILDBPF_CACHE_DIR=str(tmp_path / "cache"))
    done = buildbpf("build", cwd=project, env=dict(env, BUILDBPF_RUSTC=str(fake / "bin/rustc")), timeout=300)
    assert done.returncode == 3, done.stderr
    rustc = fake / "bin" / "rustc"
    assert f"BUILDBPF_RUSTC={rustc}: `{rustc} -vV` exited with status 1 and printed nothing" in done.stderr
    assert "fix: point BUILDBPF_RUSTC at a toolchain's rustc" in done.stderr
    # a real rustc beside a cargo that fails silently
    (fake / "bin/rustc").unlink()
    (fake / "bin/rustc").symlink_to(toolchain.rust.rustc)
    done = buildbpf("build", cwd=project, env=dict(env, BUILDBPF_CARGO=str(fake / "bin/cargo")), timeout=300)
    assert done.returncode == 3, done.stderr
    assert f"`{fake}/bin/cargo metadata` exited with status 1 and printed nothing" in done.stderr
    assert "fix: point BUILDBPF_CARGO at a toolchain's cargo, or unset it" in done.stderr
