"""No traceback reaches a user, and a JSON mode stays JSON when it fails (issue #11)."""

from __future__ import annotations

import json
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildbpf.build import settings
from buildbpf.cargo import config_file
from buildbpf.cargo.config_file import managed_keys
from buildbpf.cli.app import run_cli
from buildbpf.errors import FileSystemError
from tests.support import immutable, remount_read_only, tmpfs

KEYS = managed_keys(["bpfel-unknown-none"], {"bpfel-unknown-none": ["-C", "debuginfo=2"]}, ["core"])


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A directory of its own, no replay, no rustup, and a hang fails instead of blocking."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("BUILDBPF_NO_REPLAY", "1")
    monkeypatch.setenv("RUSTUP_HOME", str(tmp_path / "no-rustup"))
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError("blocked")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(20)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


# --- JSON modes print one JSON error object on stdout --------------------------------------

JSON_MODES = [
    ["build", "--message-format", "json"],
    ["build", "--message-format=json"],
    ["build", "--print-plan"],
    ["config", "--json"],
    ["check", "--json"],
]


@pytest.mark.parametrize("argv", JSON_MODES, ids=" ".join)
def test_a_json_mode_prints_its_error_as_json(
    argv: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUILDBPF_TOOLCHAIN", "nightly-1999-01-01")  # not installed: exit 3, no process
    assert run_cli(argv) == 3
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error["kind"] == "toolchain error"
    assert error["exit_code"] == 3
    assert "nightly-1999-01-01" in error["message"] and "BUILDBPF_TOOLCHAIN" in error["message"]
    assert error["fix"].startswith("rustup toolchain install")
    assert "buildbpf: toolchain error:" in err  # people still read stderr


def test_doctor_json_error_is_json(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "rust-toolchain.toml").write_text("[toolchain\n")
    assert run_cli(["doctor", "--json"]) == 2
    error = json.loads(capsys.readouterr().out)["error"]
    assert error["kind"] == "config error" and "rust-toolchain.toml" in error["message"]


def test_a_usage_error_in_a_json_mode_is_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["check", "--json", "--no-such-option"]) == 2
    out, err = capsys.readouterr()
    error = json.loads(out)["error"]
    assert error == {
        "kind": "usage error",
        "message": "No such option: --no-such-option",
        "fix": "see `buildbpf --help`",
        "exit_code": 2,
    }
    assert "No such option" in err


def test_human_mode_keeps_stdout_empty_on_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUILDBPF_TOOLCHAIN", "nightly-1999-01-01")
    assert run_cli(["config"]) == 3
    assert capsys.readouterr().out == ""


# --- check never blocks and never reads without end ------------------------------------------


def test_check_of_dev_zero_and_a_fifo_is_a_verdict(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    fifo = tmp_path / "pipe.o"
    os.mkfifo(fifo)
    big = tmp_path / "big.o"
    with big.open("wb") as stream:
        stream.truncate((64 << 20) + 1)
    assert run_cli(["check", "--json", "/dev/zero", str(fifo), str(big)]) == 5
    reports = json.loads(capsys.readouterr().out)
    problems = [r["problems"] for r in reports]
    assert problems[0] == ["cannot read: object /dev/zero is a character device, not a regular file; "
                           "buildbpf reads only regular files"]
    assert "is a FIFO (named pipe), not a regular file" in problems[1][0]
    assert "larger than 64 MiB" in problems[2][0]


# --- the last-resort handler: an OSError is one line naming path, operation and errno ---------


def test_a_stray_oserror_is_one_line_and_exit_8(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")

    def schema() -> dict[str, object]:
        (blocker / "sub").mkdir()  # ENOTDIR, raised inside pathlib
        return {}

    monkeypatch.setattr(settings, "schema", schema)
    assert run_cli(["schema"]) == 8
    err = capsys.readouterr().err
    assert err.splitlines()[0] == (
        f"buildbpf: file system error: cannot create the directory {blocker}/sub: Not a directory (ENOTDIR)"
    )
    assert "Traceback" not in err
    assert run_cli(["--debug", "schema"]) == 8
    assert "Traceback" in capsys.readouterr().err  # --debug still shows it


def test_an_immutable_config_is_a_file_system_error(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    path.write_text("[build]\njobs = 2\n")
    with immutable(path), pytest.raises(FileSystemError, match=rf"{path}: Operation not permitted \(EPERM\)"):
        config_file.apply(tmp_path, KEYS)
    assert path.read_text() == "[build]\njobs = 2\n"


def test_a_read_only_cargo_dir_is_a_file_system_error(tmp_path: Path) -> None:
    cargo_dir = tmp_path / ".cargo"
    with tmpfs(cargo_dir):
        remount_read_only(cargo_dir)
        with pytest.raises(FileSystemError, match=rf"temporary file in {cargo_dir}: .*\(EROFS\)") as e:
            config_file.apply(tmp_path, KEYS)
        assert e.value.fix is not None and "read-only" in e.value.fix


def test_a_full_disk_while_writing_a_config_leaves_nothing(tmp_path: Path) -> None:
    cargo_dir = tmp_path / ".cargo"
    with tmpfs(cargo_dir, size="4k"):
        (cargo_dir / "filler").write_bytes(b"x" * 4096)  # the tmpfs is now full
        with pytest.raises(FileSystemError, match=r"cannot write .*config\.toml: .*\(ENOSPC\)"):
            config_file.apply(tmp_path, KEYS)
        assert sorted(p.name for p in cargo_dir.iterdir()) == ["filler"]  # no temp file left


def test_a_broken_manifest_keeps_cargos_whole_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from buildbpf._process import Command, Completed
    from buildbpf.cargo import metadata
    from buildbpf.errors import ConfigError

    stderr = (
        "error: invalid type: string \"x\", expected a table\n"
        " --> Cargo.toml:1:11\n"
        "  |\n"
        "1 | package = \"x\"\n"
        "  |           ^^^\n"
    )

    def cargo(argv: list[object], **_: object) -> Completed:
        return Completed(Command(tuple(map(str, argv))), 101, "", stderr)

    monkeypatch.setattr(metadata, "run", cargo)
    rust = type("Rust", (), {"cargo": Path("cargo"), "cargo_env": lambda self: {}})()
    with pytest.raises(ConfigError) as caught:
        metadata.cargo_metadata(rust, tmp_path)  # type: ignore[arg-type]
    message = caught.value.message
    assert message.startswith(f"cargo metadata failed in {tmp_path}:\n  error: invalid type")
    assert "  --> Cargo.toml:1:11" in message and "1 | package = \"x\"" in message


def test_an_oserror_on_the_replay_path_hands_over(monkeypatch: pytest.MonkeyPatch) -> None:
    from buildbpf import __main__
    from buildbpf.build import replay

    def broken(argv: list[str], handover: object = None) -> int | None:
        raise BrokenPipeError(32, "Broken pipe")

    monkeypatch.setattr(replay, "replay", broken)
    monkeypatch.setenv("BUILDBPF_TOOLCHAIN", "nightly-1999-01-01")
    assert __main__.main(["build"]) == 3  # the full path ran and reported its own error


def test_init_under_a_regular_file_or_into_a_read_only_dir(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert run_cli(["init", str(blocker / "probe")]) == 8
    err = capsys.readouterr().err
    assert f"cannot create the directory {blocker}/probe: {blocker} is not a directory (ENOTDIR)" in err
    assert "Traceback" not in err
    read_only = tmp_path / "ro"
    with tmpfs(read_only):
        remount_read_only(read_only)
        assert run_cli(["init", str(read_only / "probe")]) == 8
    err = capsys.readouterr().err
    assert f"{read_only}/probe: Read-only file system (EROFS)" in err
    assert "Traceback" not in err
