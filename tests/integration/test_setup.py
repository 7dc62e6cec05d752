"""`buildbpf setup` on the real machine: idempotent, and a faithful dry run."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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


# --- issue #20 item 9: two setups at once -------------------------------------------------------

HOLD_THE_LOCK = """
import sys
from buildbpf import _fs
with _fs.exclusive(_fs.setup_lock()):
    print("held", flush=True)
    sys.stdin.read()  # until the test closes stdin
"""


def fresh_home(tmp_path: Path) -> dict[str, str]:
    """A data dir without bpf-linker: setup installs one, reusing the kept build tree (seconds)."""
    return dict(os.environ, BUILDBPF_HOME=str(tmp_path / "home"))


def start_setup(env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "buildbpf", "setup"], env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip


def test_a_setup_waits_while_another_holds_the_lock(toolchain: Toolchain, tmp_path: Path) -> None:
    """Two `cargo install`s into one root raced: one failed copying its binary (exit 4)."""
    env = fresh_home(tmp_path)
    lock = tmp_path / "home" / "bpf-linker" / "setup.lock"
    with (
        subprocess.Popen([sys.executable, "-c", HOLD_THE_LOCK], env=env, text=True,
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE) as holder,
        start_setup(env) as setup,
    ):  # fmt: skip
        assert holder.stdout is not None and holder.stdin is not None and setup.stderr is not None
        assert holder.stdout.readline() == "held\n"
        first = setup.stderr.readline()  # the one line, before anything is done
        assert first == f"buildbpf: waiting for another `buildbpf setup` to finish (it holds {lock})\n"
        time.sleep(1)
        assert setup.poll() is None  # still waiting, and nothing installed meanwhile
        assert not (lock.parent / f"llvm-{toolchain.rust.llvm_major}").exists()
        holder.stdin.close()  # the other setup is done
        assert holder.wait(30) == 0
        out, err = setup.communicate(timeout=900)
    assert setup.returncode == 0, first + err
    assert "done: install bpf-linker" in out


def test_two_setups_at_once_both_succeed(toolchain: Toolchain, tmp_path: Path) -> None:
    env = fresh_home(tmp_path)
    with start_setup(env) as one, start_setup(env) as two:
        results = [(s.communicate(timeout=900), s.returncode) for s in (one, two)]
    assert [code for _, code in results] == [0, 0], [err for (_, err), _ in results]
    outs = [out for (out, _), _ in results]
    assert sum("done: install bpf-linker" in out for out in outs) == 1
    assert sum("nothing to do" in out for out in outs) == 1  # the other found it installed
