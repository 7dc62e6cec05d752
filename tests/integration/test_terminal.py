"""Under a terminal, cargo's colours and progress bar reach it through buildbpf (issue 14.1)."""

from __future__ import annotations

import fcntl
import os
import pty
import re
import select
import struct
import sys
import termios
import time
from pathlib import Path

from buildbpf.toolchain import Toolchain
from tests.integration import descendants
from tests.integration.conftest import FIXTURES, buildbpf
from tests.integration.test_build import copy_tree

COLOURED_STATUS = re.compile(rb"\x1b\[[0-9;]*m +(Compiling|Finished)\x1b\[0m")
PROGRESS = re.compile(rb"Building(\x1b\[0m)? \[[ =>]*\] \d+/\d+")


def under_a_pty(argv: list[str], cwd: Path, env: dict[str, str], timeout: float = 1200) -> tuple[int, bytes]:
    """Run `buildbpf ARGV` with a 120-column pseudo-terminal as stdin, stdout and stderr."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns to pytest
        try:
            os.chdir(cwd)
            os.execve(sys.executable, [sys.executable, "-m", "buildbpf", *argv], env)
        finally:
            os._exit(127)
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
    received = bytearray()
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([fd], [], [], 1.0)
            if not ready:
                continue
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
    finally:
        os.close(fd)
    _, status = os.waitpid(pid, 0)
    return os.waitstatus_to_exitcode(status), bytes(received)


def test_colour_and_progress_reach_a_terminal(toolchain: Toolchain, tmp_path: Path) -> None:
    root = copy_tree(FIXTURES / "minimal-ebpf", tmp_path / "tty")
    (root / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')
    # a target dir of its own: cargo compiles (core too) long enough to draw its progress bar,
    # whatever other tests (or an earlier run at the same temporary path) left in a shared one
    target = tmp_path / "target"
    env = dict(os.environ, CARGO_TARGET_DIR=str(target), BUILDBPF_NO_REPLAY="1", TERM="xterm")
    for name in ("CARGO_TERM_COLOR", "CARGO_TERM_PROGRESS_WHEN", "CARGO_TERM_PROGRESS_WIDTH", "NO_COLOR"):
        env.pop(name, None)
    code, received = under_a_pty(["build", "--release"], root, env)
    assert code == 0, received[-4000:].decode(errors="replace")
    assert COLOURED_STATUS.search(received), received[-4000:]
    assert b"Compiling\x1b[0m minimal-ebpf" in received
    assert PROGRESS.search(received), received[-4000:]  # cargo's progress bar, drawn with \r
    assert b"verified minimal-ebpf" in received

    # --color never: the same terminal, no colour; captured (not a terminal): neither
    code, plain = under_a_pty(["build", "--release", "--color", "never"], root, env)
    assert code == 0
    assert b"Finished" in plain and not COLOURED_STATUS.search(plain)
    piped = buildbpf("build", "--release", cwd=root, env=env)
    assert piped.returncode == 0, piped.stderr[-4000:]
    assert "Finished" in piped.stderr and "\x1b[" not in piped.stderr


def test_ctrl_c_on_the_terminal_stops_everything(toolchain: Toolchain, tmp_path: Path) -> None:
    # cargo and rustc run in a process group of their own, which the terminal's Ctrl-C does
    # not reach: buildbpf stops them itself
    root = copy_tree(FIXTURES / "minimal-ebpf", tmp_path / "tty")
    (root / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')
    mark, env = descendants.new_mark()
    env.update(CARGO_TARGET_DIR=str(tmp_path / "target"), BUILDBPF_NO_REPLAY="1", TERM="xterm")
    pid, fd = pty.fork()
    if pid == 0:  # the child: never returns to pytest
        try:
            os.chdir(root)
            os.execve(sys.executable, [sys.executable, "-m", "buildbpf", "build", "--release"], env)
        finally:
            os._exit(127)
    received = bytearray()
    try:
        descendants.wait_for(mark, "rustc", 120, but=pid)
        os.write(fd, b"\x03")  # the terminal's Ctrl-C: SIGINT to its foreground process group
        while select.select([fd], [], [], 30)[0]:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # EIO: the child closed the terminal
                break
            if not chunk:
                break
            received += chunk
    except BaseException:
        os.kill(pid, 9)
        raise
    finally:
        os.close(fd)
        _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 130, received[-2000:]
    assert b"buildbpf: interrupted: interrupted while running" in received
    descendants.gone_within(mark, 3.0)
