"""Processes buildbpf started, found by a mark in their environment (children inherit it, and
it survives their parent's death, when /proc no longer links them to buildbpf)."""

from __future__ import annotations

import contextlib
import os
import time
import uuid
from pathlib import Path


def new_mark() -> tuple[str, dict[str, str]]:
    """A unique mark, and an environment carrying it for `subprocess.Popen(env=...)`."""
    mark = f"BUILDBPF_TEST_MARK_{uuid.uuid4().hex}"
    return mark, dict(os.environ, TEST_MARK=mark)


def marked(mark: str, but: int | None = None) -> list[tuple[int, str]]:
    """Live processes (pid, program) whose environment carries `mark`, other than `but`."""
    return [(pid, program) for pid, program, _ in states(mark, but)]


def states(mark: str, but: int | None = None) -> list[tuple[int, str, str]]:
    """Live processes (pid, program, state: R, S, T for stopped, ...) carrying `mark`."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) in (but, os.getpid()):
            continue
        try:
            if mark.encode() not in (entry / "environ").read_bytes():
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            program = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if state != "Z":
            found.append((int(entry.name), program, state))
    return found


def wait_for(mark: str, program: str, timeout: float, but: int | None = None) -> None:
    """Wait until a process running `program` (a substring of its path) carries `mark`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(program in found for _, found in marked(mark, but)):
            return
        time.sleep(0.05)
    raise AssertionError(f"no {program} started within {timeout} s")


def gone_within(mark: str, timeout: float, but: int | None = None) -> float:
    """Seconds until no process carries `mark`; fails naming the survivors after `timeout`."""
    started = time.monotonic()
    while (left := marked(mark, but)) and time.monotonic() - started < timeout:
        time.sleep(0.02)
    for pid, _ in left:  # do not leave them running for the next test
        with contextlib.suppress(OSError):
            os.kill(pid, 9)
    assert not left, f"still running {timeout} s after buildbpf: {left}"
    return time.monotonic() - started
