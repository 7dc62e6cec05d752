"""Errors with the real cargo: what cargo said reaches the user whole (issue #11)."""

from __future__ import annotations

import json
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
