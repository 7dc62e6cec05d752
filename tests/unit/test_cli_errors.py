"""No traceback reaches a user, and a JSON mode stays JSON when it fails (issue #11)."""

from __future__ import annotations

import json
import logging
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildbpf import _child
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
    with immutable(path), pytest.raises(FileSystemError) as caught:
        config_file.apply(tmp_path, KEYS)
    assert path.read_text() == "[build]\njobs = 2\n"
    # issue #20 item 13: it said `cannot rename a temporary file over X -> X`
    assert caught.value.message == f"cannot write {path}: Operation not permitted (EPERM)"
    assert caught.value.fix is not None and "chattr -i" in caught.value.fix


def test_a_read_only_cargo_dir_is_a_file_system_error(tmp_path: Path) -> None:
    cargo_dir = tmp_path / ".cargo"
    with tmpfs(cargo_dir):
        remount_read_only(cargo_dir)
        with pytest.raises(FileSystemError) as e:
            config_file.apply(tmp_path, KEYS)
        assert e.value.message == (
            f"cannot write {cargo_dir}/config.toml: cannot create a file in {cargo_dir}: "
            "Read-only file system (EROFS)"
        )
        assert e.value.fix is not None and "read-only" in e.value.fix


def test_a_build_notes_an_unwritable_cargo_config_and_goes_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue #20 item 10: the file is optional (every setting is on cargo's command line), so a
    read-only checkout without it used to fail the build with exit 8 for nothing."""
    from buildbpf.build import execute
    from buildbpf.build.steps import ConfigStep

    cargo_dir = tmp_path / ".cargo"
    with tmpfs(cargo_dir):
        remount_read_only(cargo_dir)
        with caplog.at_level(logging.INFO, logger="buildbpf"):
            step = ConfigStep("probe-ebpf", tmp_path, tuple(KEYS))
            [outcome] = execute.write_configs((step,), dry_run=False)
    assert outcome.status is config_file.ConfigStatus.NOT_WRITTEN  # not recorded for a replay
    assert f"{cargo_dir}/config.toml is not written, which is fine" in caplog.text
    assert "Read-only file system (EROFS)" in caplog.text


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


# --- issue #20: a probe cache edited or corrupted by hand is probed again, never a traceback ----


@pytest.mark.parametrize(
    "entry",
    [
        '{"no bars in this key": {}}',  # was an IndexError when stale entries were dropped
        '{"KEY": {"stdout": 5}}',  # an answer that is not text
        '{"KEY": ["stdout"]}',
        '{"KEY": {"version": "1.2", "llvm": "x.y.z"}}',  # was a ValueError reading the version
        '{"KEY": {}}',  # was a KeyError
    ],
)
def test_a_corrupted_probe_cache_is_probed_again(
    tmp_path: Path, entry: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildbpf.toolchain.linker import inspect_linker
    from buildbpf.toolchain.probe_cache import cached_probe

    tool = tmp_path / "bpf-linker"
    tool.write_text("")
    stat = tool.stat()
    key = f"bpf-linker|{tool}|{stat.st_mtime_ns}|{stat.st_size}"
    (tmp_path / "cache").mkdir()
    (tmp_path / "cache" / "probes.json").write_text(entry.replace("KEY", key))
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    answer = {"version": "0.13.0", "llvm": "22.1.8"}
    if "version" in entry or entry == '{"KEY": {}}':  # strings are trusted, and read safely
        assert inspect_linker(tool, "PATH").version is None
        return
    assert cached_probe(tool, "bpf-linker", lambda: answer) == answer


# --- issue #20 item 13: a named tool that fails says which variable, how, and the fix -------------


def fake_sysroot(root: Path) -> Path:
    """A toolchain directory with rust-src, whose rustc and cargo are executable files."""
    (root / "lib/rustlib/src/rust/library").mkdir(parents=True)
    (root / "lib/rustlib/src/rust/library/Cargo.lock").write_text("")
    (root / "bin").mkdir()
    for tool in ("rustc", "cargo"):
        (root / "bin" / tool).write_text("#!/bin/sh\n")
        (root / "bin" / tool).chmod(0o755)
    return root / "bin" / "rustc"


@pytest.mark.parametrize(
    ("status", "stdout", "stderr", "said"),
    [
        (1, "", "", "exited with status 1 and printed nothing"),
        (2, "", "error: bad\n", "exited with status 2: error: bad"),
        (0, "hello\n", "", "printed no `release:` line"),
    ],
)
def test_a_named_rustc_that_fails_names_the_variable_and_why(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, stdout: str, stderr: str, said: str
) -> None:
    """`BUILDBPF_RUSTC=/bin/false` used to say `/usr/bin/false -vV failed: ` and nothing more."""
    from buildbpf._process import Command, Completed
    from buildbpf.errors import NamedToolError
    from buildbpf.toolchain import rust

    rustc = fake_sysroot(tmp_path / "tc")
    monkeypatch.setenv("BUILDBPF_RUSTC", str(rustc))
    monkeypatch.setattr(rust, "probe", lambda argv, **_: Completed(Command(tuple(map(str, argv))), status,
                                                                   stdout, stderr))  # fmt: skip
    with pytest.raises(NamedToolError) as caught:
        rust.resolve_rust()
    assert caught.value.message.startswith(f"BUILDBPF_RUSTC={rustc}: ")
    assert said in caught.value.message
    assert caught.value.fix is not None and caught.value.fix.startswith("point BUILDBPF_RUSTC at")


@pytest.mark.parametrize(("status", "stdout"), [(1, ""), (0, ""), (0, "not json"), (0, "[]")])
def test_a_cargo_that_says_nothing_or_no_json_is_a_toolchain_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: int, stdout: str
) -> None:
    """`BUILDBPF_CARGO=/bin/false` used to be `cargo metadata failed in DIR:` (exit 2, no reason)."""
    from buildbpf._process import Command, Completed
    from buildbpf.cargo import metadata
    from buildbpf.errors import ToolchainError

    def cargo(argv: list[object], **_: object) -> Completed:
        return Completed(Command(tuple(map(str, argv))), status, stdout, "")

    monkeypatch.setattr(metadata, "run", cargo)
    source = "BUILDBPF_CARGO /bin/false (with the rustc beside it)"
    rust = type("Rust", (), {"cargo": Path("/bin/false"), "source": source, "cargo_env": lambda self: {}})()
    with pytest.raises(ToolchainError) as caught:
        metadata.cargo_metadata(rust, tmp_path)  # type: ignore[arg-type]
    assert caught.value.exit_code == 3
    assert caught.value.message.startswith("`/bin/false metadata`") and source in caught.value.message
    assert caught.value.fix == "point BUILDBPF_CARGO at a toolchain's cargo, or unset it"


@pytest.mark.parametrize(
    "argv",
    [
        ["build", "--target-dir", ""],
        ["build", "--target-dir", " ", "--release"],
        ["run", "--target-dir="],
        ["clean", "--all", "--target-dir", ""],
    ],
    ids=" ".join,
)
def test_an_empty_target_dir_is_refused_before_anything_runs(
    argv: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """`--target-dir "$UNSET"` was the current directory: `build` wrote into the sources, and
    `clean --all` ran `cargo clean --target-dir <workspace root>`, which removed the sources."""
    assert run_cli(argv) == 2
    err = capsys.readouterr().err
    assert "Invalid value for '--target-dir': an empty path names no directory" in err



def test_a_nul_in_the_userspace_target_of_a_cargo_config_is_a_config_error(tmp_path: Path) -> None:
    """`[build] target = "x\\u0000"` reached cargo's argv: a ValueError traceback."""
    from buildbpf.build.context import userspace_triple
    from buildbpf.errors import ConfigError

    (tmp_path / ".cargo").mkdir()
    (tmp_path / ".cargo" / "config.toml").write_text('[build]\ntarget = "x\\u0000"\n')
    with pytest.raises(ConfigError, match=r"config\.toml: build\.target holds a NUL character"):
        userspace_triple(tmp_path, {}, "x86_64-unknown-linux-gnu")


@pytest.mark.parametrize(
    ("code", "output", "said"),
    [
        (101, "error: oops\n", "(cargo exited with status 101)"),
        (-9, "", "(cargo was killed by SIGKILL and printed nothing)"),
        (-15, "   Compiling x\n", "(cargo was killed by SIGTERM)"),
        (-77, "", "(cargo was killed by signal 77 and printed nothing)"),
    ],
)
def test_a_cargo_killed_or_silent_says_so(code: int, output: str, said: str) -> None:
    """A cargo the out-of-memory killer stopped said `exited with status -9`, and nothing more."""
    from buildbpf.build.advice import cargo_failure

    assert cargo_failure("eBPF crate probe-ebpf (bpfel-unknown-none)", code, output).message == (
        f"eBPF crate probe-ebpf (bpfel-unknown-none) failed {said}"
    )


def test_a_cached_rustc_answer_without_its_text_is_a_toolchain_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`{"rustc -vV|...": {}}` in probes.json was a KeyError traceback."""
    from buildbpf.errors import ToolchainError
    from buildbpf.toolchain.rust import _rustc_info

    tool = tmp_path / "rustc"
    tool.write_text("")
    stat = tool.stat()
    (tmp_path / "cache").mkdir()
    key = f"rustc -vV|{tool}|{stat.st_mtime_ns}|{stat.st_size}"
    (tmp_path / "cache" / "probes.json").write_text(json.dumps({key: {}}))
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(ToolchainError, match="printed no `release:` line"):
        _rustc_info(tool)


@pytest.mark.parametrize(
    ("interrupt", "code", "line"),
    [
        (KeyboardInterrupt(), 130, "buildbpf: interrupted: interrupted"),
        (_child.Terminated(), 143, "buildbpf: interrupted: SIGTERM"),
    ],
)
def test_an_interrupt_outside_a_child_is_one_line_and_its_exit_code(
    interrupt: BaseException, code: int, line: str, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    # as when Ctrl-C (or SIGTERM) arrives while `check --kernel` waits for its VMs: typer's
    # own handling would end it silently with 130
    from buildbpf.kernels import verify

    def listing(base: object = None) -> list[str]:
        raise interrupt

    monkeypatch.setattr(verify, "listing", listing)
    assert run_cli(["kernels"]) == code
    assert capsys.readouterr().err.splitlines() == [line]


def test_an_interrupt_while_starting_up_is_one_line(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    # SIGTERM (or Ctrl-C) while buildbpf imports its CLI, before run_cli can catch it
    from buildbpf import __main__
    from buildbpf.build import replay

    def starting(argv: list[str], handover: object = None) -> int | None:
        raise _child.Terminated

    monkeypatch.setattr(replay, "replay", starting)
    assert __main__.main(["build"]) == 143
    assert capsys.readouterr().err.splitlines() == ["buildbpf: interrupted: SIGTERM"]
