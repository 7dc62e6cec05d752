"""The no-op replay with real cargo: used when nothing changed, refused or handed over otherwise."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf
from tests.integration.test_build import copy_tree

REPLAYED = "replaying its cargo calls"
PAST = time.time_ns() - 60 * 10**9


@pytest.fixture
def workspace(tmp_path: Path, shared_target: Path) -> tuple[Path, dict[str, str]]:
    root = copy_tree(FIXTURES / "minimal-ebpf", tmp_path / "replayed")
    (root / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')
    os.utime(root / "buildbpf.toml", ns=(PAST, PAST))
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), BUILDBPF_CACHE_DIR=str(tmp_path / "cache"))
    env.pop("BUILDBPF_NO_REPLAY", None)
    return root, env


def settle(root: Path) -> None:
    """Age what the first build wrote, as if it ran a while ago (see test_racy_inputs_are_not_trusted)."""
    for written in (root / ".cargo" / "config.toml", root / "Cargo.lock"):
        os.utime(written, ns=(PAST, PAST))


def build(root: Path, env: dict[str, str], code: int = 0) -> subprocess.CompletedProcess[str]:
    done = buildbpf("build", "-v", cwd=root, env=env)
    assert done.returncode == code, done.stderr[-4000:]
    assert "Traceback" not in done.stderr
    return done


def test_a_no_op_is_replayed_and_any_change_plans_again(
    toolchain: Toolchain, workspace: tuple[Path, dict[str, str]], shared_target: Path
) -> None:
    root, env = workspace
    first = build(root, env)  # writes .cargo/config.toml: nothing recorded
    settle(root)
    second = build(root, env)
    assert REPLAYED not in first.stderr + second.stderr
    third = build(root, env)
    assert REPLAYED in third.stderr
    assert "cargo metadata" not in third.stderr  # the plan was not made again
    assert third.stdout == second.stdout
    obj = shared_target / "buildbpf" / "bpfel-unknown-none" / "minimal-ebpf"
    assert f"verified minimal-ebpf (bpfel): {obj}" in third.stdout

    # a config edit: planned again, with the new setting
    (root / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\ncodegen_units = 1\n')
    os.utime(root / "buildbpf.toml", ns=(PAST + 1, PAST + 1))
    edited = build(root, env)
    assert f"{root / 'buildbpf.toml'} changed; planning the build again" in edited.stderr
    assert REPLAYED in build(root, env).stderr

    # a leaky variable in the environment: planned again, and removed from the eBPF cargo
    leaky = build(root, {**env, "RUSTFLAGS": "-C debuginfo=0"})
    assert "the environment changed" in leaky.stderr
    assert "env -u RUSTFLAGS" in leaky.stderr

    # a rust-toolchain.toml appearing: planned again; its warning is shown every time
    pin = root / "rust-toolchain.toml"
    pin.write_text('[toolchain]\nchannel = "nightly-2001-01-01"\n')
    os.utime(pin, ns=(PAST, PAST))
    for _ in range(2):
        pinned = build(root, env)
        assert "nightly-2001-01-01" in pinned.stderr
        assert REPLAYED not in pinned.stderr
    pin.unlink()
    build(root, env)
    assert REPLAYED in build(root, env).stderr

    # an edited eBPF source: cargo rebuilds it, so the full path gates the new object
    source = root / "src" / "main.rs"
    source.write_text(source.read_text() + "\n// edited\n")
    rebuilt = build(root, env)
    assert "cargo rebuilt part of eBPF crate minimal-ebpf" in rebuilt.stderr
    assert rebuilt.stderr.count("Compiling minimal-ebpf") == 1
    assert REPLAYED in build(root, env).stderr

    # a verified object replaced behind buildbpf's back: the full path publishes it again
    good = obj.read_bytes()
    obj.write_bytes(b"not eBPF")
    restored = build(root, env)
    assert "is not the object buildbpf verified" in restored.stderr
    assert obj.read_bytes() == good

    # a compile error during a replay: one report, the usual message and exit code
    assert REPLAYED in build(root, env).stderr
    source.write_text(source.read_text() + "\nfn broken( {}\n")
    failed = build(root, env, code=4)
    assert REPLAYED in failed.stderr
    assert failed.stderr.count("buildbpf: build failed: eBPF crate minimal-ebpf") == 1
    assert failed.stderr.count("could not compile `minimal-ebpf`") == 1


def test_racy_inputs_are_not_trusted(toolchain: Toolchain, workspace: tuple[Path, dict[str, str]]) -> None:
    """An input written within a second of the build that read it may change again unseen."""
    root, env = workspace
    build(root, env)
    settle(root)
    recorded = build(root, env)
    assert "not recorded" not in recorded.stderr, recorded.stderr[-2000:]
    assert REPLAYED in build(root, env).stderr
    (root / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')  # same text, new mtime
    assert "buildbpf.toml changed" in build(root, env).stderr
    assert REPLAYED not in build(root, env).stderr  # the build that read it ran within its second


def test_an_unwritable_cache_never_fails_a_build(
    toolchain: Toolchain, workspace: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Read-only cache (issue #11): the build succeeds, says nothing about it (-v: a debug line),
    and is simply not replayed next time."""
    from tests.support import remount_read_only, tmpfs

    root, env = workspace
    cache = tmp_path / "ro-cache"
    with tmpfs(cache):
        remount_read_only(cache)
        env = dict(env, BUILDBPF_CACHE_DIR=str(cache / "buildbpf"), XDG_CACHE_HOME=str(cache))
        first = build(root, env)
        settle(root)
        second = build(root, env)  # a clean no-op: the record it would save cannot be written
        third = build(root, env)
    assert "verified minimal-ebpf (bpfel)" in second.stdout
    assert "the replay record not saved" in second.stderr
    assert REPLAYED not in first.stderr + second.stderr + third.stderr


def test_a_replayed_no_op_says_nothing_of_cargo(
    toolchain: Toolchain, workspace: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    """Without -v a replayed no-op prints the verified objects and the time: no `+ cargo`
    echo, no `Finished` (the full path, which plans, still echoes its calls)."""
    root, env = workspace
    # a bpf-linker of its own: a replay hands over when the shared one's ctime moves (a
    # hard link made to it elsewhere), and this test must see a replay
    linker = tmp_path / "bpf-linker"
    shutil.copy2(toolchain.linker.path, linker)
    os.utime(linker, ns=(PAST, PAST))
    env = {**env, "BUILDBPF_BPF_LINKER": str(linker)}
    time.sleep(1.1)  # its ctime, too, a second before the build that records it
    first = buildbpf("build", cwd=root, env=env)  # writes .cargo/config.toml: nothing recorded
    assert first.returncode == 0, first.stderr[-4000:]
    settle(root)
    done = buildbpf("build", cwd=root, env=env)  # recorded
    assert done.returncode == 0, done.stderr[-4000:]
    assert "+ cargo build" in done.stderr
    replayed = buildbpf("build", cwd=root, env=env)
    assert replayed.returncode == 0, replayed.stderr[-4000:]
    assert replayed.stdout == done.stdout
    lines = replayed.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("buildbpf: finished in "), replayed.stderr
