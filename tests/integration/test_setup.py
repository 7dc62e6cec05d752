"""`buildbpf setup` on the real machine: idempotent, and a faithful dry run."""

from __future__ import annotations

import os
from pathlib import Path

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf


def test_second_setup_does_nothing(toolchain: Toolchain) -> None:
    before = toolchain.linker.path.stat().st_mtime_ns
    done = buildbpf("setup")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "nothing to do" in done.stdout
    assert f"bpf-linker {toolchain.linker.version}" in done.stdout
    assert "+ " not in done.stderr  # no command was run
    assert toolchain.linker.path.stat().st_mtime_ns == before


def test_dry_run_plans_the_linker_install(toolchain: Toolchain, tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDBPF_")}
    env.update(
        PATH="/usr/local/bin:/usr/bin:/bin",
        BUILDBPF_HOME=str(tmp_path / "home"),
        CARGO_HOME=str(tmp_path / "cargo"),
    )
    done = buildbpf("setup", "--dry-run", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    major = toolchain.rust.llvm_major
    assert f"--features llvm-{major}" in done.stdout
    assert str(tmp_path / "home" / "bpf-linker" / f"llvm-{major}") in done.stdout
    assert not (tmp_path / "home").exists()  # a dry run writes nothing


def test_broken_rustc_is_a_clear_error(tmp_path: Path) -> None:
    env = dict(os.environ, BUILDBPF_RUSTC=str(tmp_path / "no-rustc"))
    done = buildbpf("setup", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    assert "BUILDBPF_RUSTC" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
