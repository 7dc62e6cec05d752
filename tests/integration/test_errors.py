"""Errors with the real cargo: what cargo said reaches the user whole (issue #11)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from buildbpf import _process
from buildbpf.errors import ConfigError
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf
from tests.support import remount_read_only, tmpfs


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


def test_a_read_only_checkout_builds_without_its_optional_cargo_config(
    toolchain: Toolchain, fixture_crate: Any, shared_target: Path
) -> None:
    """Issue #20 item 10: an eBPF crate without `.cargo/config.toml` in a read-only tree failed
    with exit 8, though every setting is on cargo's command line."""
    crate = fixture_crate("minimal-ebpf")
    (crate / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')
    lockfile = [toolchain.rust.cargo, "generate-lockfile", "--offline"]  # cargo cannot write one there
    _process.run(lockfile, cwd=crate, echo=False, stream=False)
    read_only = crate.parent / "ro"
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), BUILDBPF_NO_REPLAY="1")
    with tmpfs(read_only, size="1m"):
        shutil.copytree(crate, read_only / "crate")
        remount_read_only(read_only)
        done = buildbpf("build", cwd=read_only / "crate", env=env, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    config = read_only / "crate" / ".cargo" / "config.toml"
    assert f"{config} is not written, which is fine: buildbpf passes its settings to cargo" in done.stderr
    assert "Read-only file system (EROFS)" in done.stderr
    assert "verified minimal-ebpf (bpfel)" in done.stdout


def test_a_nul_in_an_argument_is_a_config_error_not_a_traceback(tmp_path: Path) -> None:
    """The last line of defence behind each reader's own check: the one spawn point."""
    with pytest.raises(ConfigError, match="an argument or variable holds a NUL character"):
        _process.run(["echo", "a\0b"], cwd=tmp_path, echo=False, stream=False)
    with pytest.raises(ConfigError, match="an argument or variable holds a NUL character"):
        _process.run(["echo"], env_set={"X": "a\0b"}, cwd=tmp_path, echo=False, stream=False)
