"""The process wrapper: what it echoes and which environment a process gets."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from buildbpf import _process
from buildbpf.errors import CargoError


def test_shell_line_is_pasteable() -> None:
    command = _process.Command(
        ("cargo", "build", "--config", "target.bpfel-unknown-none.rustflags=['-C', 'debuginfo=2']"),
        cwd=Path("/w/my crate"),
        env_set={"RUSTC_BOOTSTRAP": "1", "RUSTC": "/usr/bin/rustc"},
        env_remove=frozenset({"RUSTFLAGS", "CARGO_BUILD_TARGET"}),
    )
    line = command.shell_line()
    assert shlex.split(line) == [
        "cd",
        "/w/my crate",
        "&&",
        "env",
        "-u",
        "CARGO_BUILD_TARGET",
        "-u",
        "RUSTFLAGS",
        "RUSTC=/usr/bin/rustc",
        "RUSTC_BOOTSTRAP=1",
        "cargo",
        "build",
        "--config",
        "target.bpfel-unknown-none.rustflags=['-C', 'debuginfo=2']",
    ]


def test_environment_removes_then_sets() -> None:
    command = _process.Command(("x",), env_set={"A": "new"}, env_remove=frozenset({"RUSTFLAGS", "A"}))
    env = command.environment({"RUSTFLAGS": "-C linker=mold", "A": "old", "PATH": "/bin"})
    assert env == {"A": "new", "PATH": "/bin"}


def test_failure_becomes_cargo_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def fake(command: _process.Command, **_: object) -> _process.Completed:
        return _process.Completed(command, 101, "", "error[E0463]: can't find crate for `core`")

    monkeypatch.setattr(_process, "_spawn", fake)
    with pytest.raises(CargoError, match="exited with status 101"):
        _process.run(["cargo", "build"], echo=False)
    assert _process.run(["cargo", "build"], echo=False, check=False).returncode == 101


def test_unit_tests_cannot_spawn() -> None:
    with pytest.raises(AssertionError, match="unit test tried to run a process"):
        _process.run(["true"], echo=False)


def test_a_command_keeps_its_removals_sorted_and_once() -> None:
    """One Command type for a planned cargo call too: its removals print in a stable order."""
    command = _process.Command(("cargo",), env_remove=["RUSTFLAGS", "CARGO_BUILD_TARGET", "RUSTFLAGS"])
    assert command.env_remove == ("CARGO_BUILD_TARGET", "RUSTFLAGS")


def test_a_replay_record_is_made_from_the_command(tmp_path: Path) -> None:
    from buildbpf.build.record import call_record

    command = _process.Command(("/usr/bin/cargo", "build"), tmp_path, {"RUSTC": "/r"}, ("RUSTFLAGS",))
    recorded = call_record(command, what="userspace crates x", gate=True)
    assert recorded["echo"] == command.shell_line()
    assert (recorded["argv"], recorded["cwd"], recorded["env_set"], recorded["env_remove"]) == (
        ["/usr/bin/cargo", "build"], str(tmp_path), {"RUSTC": "/r"}, ["RUSTFLAGS"],
    )  # fmt: skip
