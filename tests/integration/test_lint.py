"""`buildbpf lint` with the real clippy: the eBPF crate's `--fix` hint names a command that works."""

from __future__ import annotations

import os
from pathlib import Path

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf
from tests.integration.test_build import copy_tree


def test_the_ebpf_fix_hint_is_a_command_that_works(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    """cargo's `cargo clippy --fix ...` cannot build an eBPF crate (no bpf target, build-std or
    toolchain): clippy's output names `buildbpf lint --fix`, which applies the suggestion."""
    root = copy_tree(FIXTURES / "minimal-ebpf", tmp_path / "fixable")
    (root / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')
    main = root / "src" / "main.rs"
    main.write_text(main.read_text().replace("    2 // XDP_PASS", "    return 2; // XDP_PASS"))
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    linted = buildbpf("lint", cwd=root, env=env)
    assert linted.returncode == 0, linted.stderr[-4000:]
    assert "needless_return" in linted.stderr, linted.stderr[-4000:]
    assert "(run `buildbpf lint --fix -p minimal-ebpf` to apply 1 suggestion)" in linted.stderr
    assert "cargo clippy --fix" not in linted.stderr
    fixed = buildbpf("lint", "--fix", "--allow-no-vcs", "-p", "minimal-ebpf", cwd=root, env=env)
    assert fixed.returncode == 0, fixed.stderr[-4000:]
    assert "return 2" not in main.read_text() and "2; // XDP_PASS" not in main.read_text()
