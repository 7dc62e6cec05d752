"""`buildbpf build --watch` rebuilds after a source edit and stops cleanly on SIGINT, leaving
no process behind (not even when SIGINT arrives during a build)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf


def _wait_for(path: Path, text: str, count: int, proc: subprocess.Popen[bytes], timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        content = path.read_text(errors="replace")
        if content.count(text) >= count:
            return content
        assert proc.poll() is None, f"buildbpf exited early ({proc.returncode}):\n{content[-4000:]}"
        time.sleep(0.2)
    raise AssertionError(f"{text!r} x{count} not seen within {timeout} s:\n{path.read_text()[-4000:]}")


def _marked(mark: str) -> list[int]:
    """Processes whose environment carries `mark` (buildbpf's children inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if mark.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


def test_watch_rebuilds_after_an_edit_and_stops_on_sigint(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    project = tmp_path / "watched"
    assert buildbpf("init", str(project), "-t", "xdp").returncode == 0
    mark = f"BUILDBPF_TEST_MARK_{uuid.uuid4().hex}"
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), TEST_MARK=mark)
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("wb") as stdout, err.open("wb") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "buildbpf", "build", "--release", "--watch"],
                                cwd=project, env=env, stdout=stdout, stderr=stderr)  # fmt: skip
    try:
        _wait_for(err, "buildbpf: watching", 1, proc, 1500)
        # the first build may write the crate's .cargo/config.toml and Cargo.lock: one more then
        builds = out.read_text().count("verified watched-ebpf")
        assert builds in (1, 2), out.read_text()
        source = project / "watched-ebpf" / "src" / "main.rs"
        source.write_text(source.read_text() + "\n// edited\n")
        _wait_for(err, "buildbpf: watching", 2, proc, 900)
        assert f"buildbpf: changed: {source}" in err.read_text()
        assert out.read_text().count("verified watched-ebpf") == builds + 1
        # src/ moved away and back, as editors and git checkouts do: the watch on it is renewed
        # (it was lost, and every later edit went unseen)
        src = source.parent
        src.rename(tmp_path / "s.x")
        (tmp_path / "s.x").rename(src)
        _wait_for(err, "buildbpf: watching", 3, proc, 120)
        assert f"buildbpf: changed: {src}" in err.read_text()
        source.write_text(source.read_text() + "\n// after the move\n")
        _wait_for(err, "buildbpf: watching", 4, proc, 900)
        assert out.read_text().count("verified watched-ebpf") == builds + 3
        # an edit, then SIGINT while that build runs: cargo is stopped too
        source.write_text(source.read_text() + "\n// again\n")
        _wait_for(err, "buildbpf: changed:", 4, proc, 60)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert "buildbpf: stopped watching" in err.read_text()
    assert "Traceback" not in err.read_text()
    deadline = time.monotonic() + 10
    while _marked(mark) and time.monotonic() < deadline:
        time.sleep(0.2)
    assert _marked(mark) == [], "processes left behind"
