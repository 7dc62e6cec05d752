"""The no-op replay: when a record is used, when it is refused, and what a replay prints.

The cargo calls are faked here (buildbpf.replay._spawn); tests/integration/test_replay.py
replays real ones.
"""

from __future__ import annotations

import logging
import os
import re
import time
from pathlib import Path

import pytest

from buildbpf._process import Command
from buildbpf.build import record as record_module
from buildbpf.build import replay

FRESH = (
    '{"reason":"compiler-artifact","package_id":"a","fresh":true}\n'
    '{"reason":"build-script-executed","package_id":"b"}\n'
    '{"reason":"build-finished","success":true}\n'
)
REBUILT = FRESH.replace('"fresh":true', '"fresh":false')
FINISHED = "    Finished `release` profile [optimized] target(s) in 0.06s\n"
PAST = time.time_ns() - 60 * 10**9


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv(replay.DISABLE, raising=False)
    root = tmp_path / "ws"
    root.mkdir()
    for name in ("Cargo.toml", "object"):
        (root / name).write_text(name)
        os.utime(root / name, ns=(PAST, PAST))
    monkeypatch.chdir(root)
    return root


def call(root: Path, *, gate: bool = True, outputs: tuple[str, ...] = ()) -> dict[str, object]:
    command = Command(("/usr/bin/cargo", "build"), root, {"RUSTC": "/usr/bin/rustc"}, ("RUSTFLAGS",))
    return record_module.call_record(
        command,
        what="eBPF crate x (bpfel-unknown-none)",
        gate=gate,
        outputs=outputs,
    )


def record(root: Path, argv: list[str], calls: list[dict[str, object]], **kwargs: object) -> bool:
    recorder = record_module.begin(argv)
    assert recorder is not None
    try:
        return recorder.save(
            inputs=[str(root / "Cargo.toml"), str(root / "buildbpf.toml")],
            calls=calls,
            prelude=["buildbpf: a notice"],
            stdout="verified x\n",
            **kwargs,  # type: ignore[arg-type]
        )
    finally:
        recorder.close()


def fake_cargo(monkeypatch: pytest.MonkeyPatch, *results: tuple[int, str, str]) -> list[object]:
    ran: list[object] = []
    pending = list(results)

    def spawn(call: object, shown: replay._Shown) -> tuple[int, str, str]:
        ran.append(call)
        code, out, err = pending.pop(0)
        shown.write(err.encode())  # as cargo's stderr arrives
        return code, out, err

    monkeypatch.setattr(replay, "_spawn", spawn)
    return ran


@pytest.mark.parametrize(
    ("argv", "ok"),
    [
        (["build"], True),
        (["build", "--release", "-p", "x", "--target", "bpfel", "-v"], True),
        (["build", "--message-format", "json"], True),
        (["build", "--print-plan"], False),
        (["build", "--dry-run"], False),
        (["build", "--check"], False),
        (["build", "--load"], False),
        (["build", "--help"], False),
        (["build", "-vh"], False),
        (["--debug", "build"], False),
        (["check", "x.o"], False),
        ([], False),
    ],
)
def test_only_plain_builds_are_replayed(argv: list[str], ok: bool) -> None:
    assert replay.eligible(argv, {}) is ok
    assert replay.eligible(argv, {replay.DISABLE: "1"}) is False


def test_the_environment_that_counts() -> None:
    env = {"PATH": "/bin", "HOME": "/root", "RUSTFLAGS": "-g", "CARGO_TARGET_DIR": "t", "TERM": "xterm",
           "BUILDBPF_BTF": "0", "XDG_CACHE_HOME": "/c", "SSH_TTY": "/dev/pts/0", "PWD": "/x"}  # fmt: skip
    assert replay.environment(env) == {k: env[k] for k in env if k not in ("TERM", "SSH_TTY", "PWD")}


def test_record_names_are_stable_and_distinct(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", "/cache")
    first = replay.record_path("/ws", ["build", "--release"])
    assert first == replay.record_path("/ws", ["build", "--release"])
    assert first.startswith("/cache/replay/")
    assert (
        len({first, replay.record_path("/ws", ["build"]), replay.record_path("/ws2", ["build", "--release"])})
        == 3
    )


def test_a_recorded_build_is_replayed(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record(workspace, ["build", "--release"], [call(workspace), call(workspace, gate=False)])
    compiled = f"   Compiling probe v0.1.0\n{FINISHED}"
    ran = fake_cargo(monkeypatch, (0, FRESH, FINISHED), (0, REBUILT, compiled))  # userspace may rebuild
    assert replay.replay(["build", "--release"]) == 0
    assert [c["echo"] for c in ran] == [call(workspace)["echo"]] * 2  # type: ignore[index]
    out, err = capsys.readouterr()
    assert out == "verified x\n"
    lines = err.splitlines()
    # the no-op eBPF call says nothing; the userspace call that compiled is echoed short (the
    # full line is for -v) with all cargo said; then the time it all took
    assert lines[:-1] == ["buildbpf: a notice", "+ cargo build …", *compiled.splitlines()]
    assert re.fullmatch(r"buildbpf: finished in \d+\.\d s", lines[-1]), lines
    assert replay.replay(["build"]) is None  # other arguments, other record


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (FINISHED, False),
        ("\x1b[1m\x1b[92m    Finished\x1b[0m `release` profile [optimized] target(s) in 0.05s\n", False),
        ("", False),
        (f"warning: unused variable: `x`\n{FINISHED}", True),  # cargo shows a fresh unit's warnings again
        (f"    Blocking waiting for file lock on build directory\n{FINISHED}", True),
        ("\x1b[K    Building [=====>  ] 3/40: probe\r", True),  # a progress bar: not a no-op
    ],
)
def test_a_no_op_replay_shows_nothing_of_cargo(
    workspace: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    said: str,
    shown: bool,
) -> None:
    """A call cargo finds fresh prints neither its echo nor `Finished`; anything more shows both."""
    assert record(workspace, ["build"], [call(workspace), call(workspace, gate=False)])
    fake_cargo(monkeypatch, (0, FRESH, said), (0, FRESH, FINISHED))
    assert replay.replay(["build"]) == 0
    lines = capsys.readouterr().err.splitlines()
    if shown:
        assert lines[:2] == ["buildbpf: a notice", "+ cargo build …"], lines
        assert "".join(lines[2:-1]) == said.replace("\n", "").replace("\r", ""), lines
    else:
        assert lines[:-1] == ["buildbpf: a notice"], lines
    assert lines[-1].startswith("buildbpf: finished in ")


def test_a_replay_with_v_echoes_the_full_line(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record(workspace, ["build", "-v"], [call(workspace)])
    fake_cargo(monkeypatch, (0, FRESH, ""))
    assert replay.replay(["build", "-v"]) == 0
    full = f"+ cd {workspace} && env -u RUSTFLAGS RUSTC=/usr/bin/rustc /usr/bin/cargo build"
    assert full in capsys.readouterr().err.splitlines()


@pytest.mark.parametrize(
    "change",
    ["touch Cargo.toml", "create buildbpf.toml", "set RUSTFLAGS", "other directory", "corrupt record"],
)
def test_any_change_takes_the_full_path(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, change: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record(workspace, ["build", "-v"], [call(workspace)])
    fake_cargo(monkeypatch)  # no call may run
    if change == "touch Cargo.toml":
        os.utime(workspace / "Cargo.toml", ns=(PAST + 1, PAST + 1))
    elif change == "create buildbpf.toml":
        (workspace / "buildbpf.toml").write_text("")
    elif change == "set RUSTFLAGS":
        monkeypatch.setenv("RUSTFLAGS", "-C debuginfo=0")
    elif change == "other directory":
        (workspace / "sub").mkdir()
        monkeypatch.chdir(workspace / "sub")
    else:
        Path(replay.record_path(str(workspace), ["build", "-v"])).write_bytes(b"\x00garbage")
    assert replay.replay(["build", "-v"]) is None
    err = capsys.readouterr().err
    if change in ("touch Cargo.toml", "create buildbpf.toml"):
        assert f"{workspace / change.split()[1]} changed; planning the build again" in err
    if change == "set RUSTFLAGS":
        assert "the environment changed" in err


def test_a_rebuilt_ebpf_unit_hands_over_to_the_gate(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert record(workspace, ["build"], [call(workspace), call(workspace, gate=False)])
    ran = fake_cargo(monkeypatch, (0, REBUILT, ""))
    assert replay.replay(["build"]) is None
    assert len(ran) == 1  # userspace is not built against an unverified object


def test_the_full_path_takes_what_the_replay_ran_instead_of_running_it_again(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Issue #20: after a userspace-only edit the replay hands over; the full path runs neither
    cargo call again (a spawn here fails the test), and times the build from the start."""
    from buildbpf.build import execute

    cargo = "/usr/bin/cargo"
    ebpf = Command((cargo, "build", "-p", "x-ebpf"), workspace, {"RUSTC": "/usr/bin/rustc"}, ("RUSTFLAGS",))
    user = Command((cargo, "build", "-p", "x"), workspace, {"BUILDBPF_OBJECTS": "/t"})
    calls = [record_module.call_record(c, what=c.argv[-1], gate=True) for c in (ebpf, user)]
    assert record(workspace, ["build"], calls)
    fake_cargo(monkeypatch, (0, FRESH, "eBPF's stderr"), (0, REBUILT, "userspace's stderr"))
    handover = replay.Handover(started=time.monotonic() - 100)
    before_ns = time.time_ns()
    assert replay.replay(["build"], handover) is None  # the userspace unit was rebuilt: hand over
    capsys.readouterr()

    done, started_ns = execute._cargo(user, "userspace", 60.0, handover)
    assert (done.returncode, done.stdout, done.stderr) == (0, REBUILT, "userspace's stderr")
    assert before_ns - 10**9 < started_ns <= time.time_ns()  # when the replay ran it, for publish()
    done, _ = execute._cargo(ebpf, "eBPF", 60.0, handover)
    assert done.stdout == FRESH
    assert handover.take(replay.call_key(user.argv, user.cwd, user.env_set, user.env_remove)) is None  # once
    assert capsys.readouterr().err == ""  # nothing echoed: nothing ran
    other = Command(("/usr/bin/cargo", "build", "-p", "y"), workspace)
    with pytest.raises(AssertionError, match="tried to run a process"):
        execute._cargo(other, "another call", 60.0, handover)  # not the replay's: it runs


def test_a_replay_reports_the_time_since_buildbpf_started(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record(workspace, ["build"], [call(workspace)])
    fake_cargo(monkeypatch, (0, FRESH, ""))
    assert replay.replay(["build"], replay.Handover(started=time.monotonic() - 72.4)) == 0
    assert capsys.readouterr().err.splitlines()[-1] == "buildbpf: finished in 1m 12s"


def test_an_object_that_is_not_the_verified_one_hands_over(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert record(workspace, ["build"], [call(workspace, outputs=(str(workspace / "object"),))])
    fake_cargo(monkeypatch, (0, FRESH, ""), (0, FRESH, ""))
    assert replay.replay(["build"]) == 0
    (workspace / "object").write_text("tampered")
    assert replay.replay(["build"]) is None


def test_a_failed_cargo_is_reported_like_the_full_path(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert record(workspace, ["build"], [call(workspace), call(workspace, gate=False)])
    ran = fake_cargo(monkeypatch, (101, "", "error: linking with `bpf-linker` failed\nInvalid record\n"))
    assert replay.replay(["build"]) == 4
    assert len(ran) == 1
    err = capsys.readouterr().err
    assert (
        "buildbpf: build failed: eBPF crate x (bpfel-unknown-none) failed (cargo exited with status 101)"
        in err
    )
    assert "buildbpf: fix: bpf-linker runs on another LLVM than rustc" in err


def test_nothing_is_recorded_from_a_build_that_warned_or_raced(workspace: Path) -> None:
    recorder = record_module.begin(["build"])
    assert recorder is not None
    logging.getLogger("buildbpf").warning("keeping your build.target")
    assert not recorder.save(inputs=[], calls=[], prelude=[], stdout="")
    recorder.close()
    (workspace / "Cargo.toml").write_text("edited just now")  # may change again within its mtime tick
    assert not record(workspace, ["build"], [])
    assert not Path(replay.record_path(str(workspace), ["build"])).exists()


def test_starting_a_build_forgets_its_record(workspace: Path) -> None:
    assert record(workspace, ["build"], [])
    path = Path(replay.record_path(str(workspace), ["build"]))
    assert path.exists()
    recorder = record_module.begin(["build"])
    assert recorder is not None
    recorder.close()
    assert not path.exists()  # a build that fails leaves nothing to replay


def test_old_records_are_pruned(workspace: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for n in range(4):
        assert record(workspace, ["build", "-p", f"c{n}"], [])
        path = Path(replay.record_path(str(workspace), ["build", "-p", f"c{n}"]))
        os.utime(path, ns=(PAST + n, PAST + n))
    assert len(list(path.parent.iterdir())) == 4
    monkeypatch.setattr(record_module, "KEEP", 2)
    assert record(workspace, ["build"], [])
    left = sorted(p.name for p in path.parent.iterdir())
    assert len(left) == 2
    assert left == sorted([Path(replay.record_path(str(workspace), ["build"])).name, path.name])


def test_a_deleted_working_directory_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from buildbpf.cli.app import run_cli

    gone = tmp_path / "gone"
    gone.mkdir()
    monkeypatch.chdir(gone)
    gone.rmdir()
    assert replay.replay(["build"]) is None
    assert record_module.begin(["build"]) is None
    assert run_cli(["build"]) == 2
    err = capsys.readouterr().err
    assert "buildbpf: config error: the current directory is gone" in err
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("status", "ok", "recorded"),
    [
        ("unchanged", True, True),
        ("create", True, False),
        ("update", True, False),
        ("unchanged", False, False),
    ],
)
def test_the_pipeline_records_only_a_clean_no_op(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, status: str, ok: bool, recorded: bool
) -> None:
    """A build that wrote a config, or whose objects failed `--check`, is not replayed."""
    from types import SimpleNamespace

    from buildbpf.build import execute, pipeline
    from buildbpf.cargo.config_file import ConfigOutcome, ConfigStatus

    saved: list[dict[str, object]] = []
    recorder = SimpleNamespace(save=lambda **kwargs: saved.append(kwargs))
    monkeypatch.setattr(record_module, "replay_inputs", lambda context, cwd: [str(cwd / "Cargo.toml")])
    monkeypatch.setattr(record_module, "replay_calls", lambda plan, objects: [])
    executed = execute.Result(configs=[ConfigOutcome(tmp_path / "config.toml", ConfigStatus(status), "")])
    result = pipeline.BuildResult(
        context=None,  # type: ignore[arg-type]
        plan=None,  # type: ignore[arg-type]
        cwd=tmp_path,
        prelude=["buildbpf: a notice"],
        executed=executed,
        reports=[SimpleNamespace(ok=ok)],  # type: ignore[list-item]
    )
    pipeline.remember(recorder, result, "verified x\n")  # type: ignore[arg-type]
    assert bool(saved) is recorded
    if recorded:
        assert saved[0]["inputs"] == [str(tmp_path / "Cargo.toml")]
        assert (saved[0]["prelude"], saved[0]["stdout"]) == (["buildbpf: a notice"], "verified x\n")
    pipeline.remember(None, result, "")  # no recorder (not a replayable build): nothing to do
