"""What a build shows: cargo's calls echoed short (full with -v), each object as soon as it is
verified, the userspace binaries with their paths, the time it took."""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from buildbpf import _process, terminal
from buildbpf.build import execute, pipeline
from buildbpf.build.layout import Published
from buildbpf.cli.app import run_cli
from buildbpf.cli.render import object_line

EBPF_ARGV = (
    "/usr/bin/cargo", "build", "-p", "probe-ebpf", "-Z", "build-std=core", "--target", "bpfel-unknown-none",
    "--config", 'target.bpfel-unknown-none.linker="/x/bpf-linker"', "--release", "--config",
    "profile.release.lto=true", "--message-format", "json-render-diagnostics",
)  # fmt: skip


def published(crate: str = "probe-ebpf") -> Published:
    return Published(crate, "bpfel", crate, Path(f"/t/buildbpf/bpfel-unknown-none/{crate}"), "0" * 64, 1234,
                     ("xdp",), "GPL", True, instructions=(("probe", 42),))  # fmt: skip


def test_short_echo_keeps_what_is_built() -> None:
    assert terminal.short_command(EBPF_ARGV, more=True) == (
        "cargo build -p probe-ebpf --target bpfel-unknown-none --release …"
    )
    assert terminal.short_command(["cargo", "build", "-p", "x"]) == "cargo build -p x"
    assert terminal.short_command(["cargo", "+nightly", "build", "--features", "a b"]) == (
        "cargo +nightly build --features 'a b'"
    )


def test_short_line_only_for_cargo() -> None:
    cargo = _process.Command(EBPF_ARGV, cwd=Path("/w"), env_set={"RUSTC_BOOTSTRAP": "1"})
    assert cargo.short_line() == "cargo build -p probe-ebpf --target bpfel-unknown-none --release …"
    git = _process.Command(("git", "ls-files"), cwd=Path("/w"))
    assert git.short_line() == git.shell_line()


@pytest.fixture
def levels() -> Iterator[None]:
    """Log levels as a fresh `buildbpf` starts (INFO), restored afterwards."""
    root, ours = logging.getLogger(), logging.getLogger("buildbpf")
    saved = root.level, ours.level
    root.setLevel(logging.INFO)
    ours.setLevel(logging.NOTSET)
    yield
    root.setLevel(saved[0])
    ours.setLevel(saved[1])


@pytest.mark.usefixtures("levels")
def test_echo_is_short_unless_verbose(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(_process, "_spawn", lambda command, **_: _process.Completed(command, 0, "", ""))
    command = _process.Command(EBPF_ARGV, cwd=Path("/w"), env_set={"RUSTC_BOOTSTRAP": "1"})
    _process.run_command(command)
    assert capsys.readouterr().err == f"+ {command.short_line()}\n"
    logging.getLogger().setLevel(logging.DEBUG)  # what -v does
    _process.run_command(command)
    assert f"+ {command.shell_line()}\n" in capsys.readouterr().err  # with -v: pasteable, env and all


def test_object_line_has_programs_with_instruction_counts() -> None:
    line = object_line(published())
    assert line == (
        "verified probe-ebpf (bpfel): /t/buildbpf/bpfel-unknown-none/probe-ebpf — 1234 bytes, "
        "programs: probe (42 insns); license GPL"
    )


def test_duration() -> None:
    assert terminal.duration(4.25) == "4.2 s"
    assert terminal.duration(72.4) == "1m 12s"


def test_objects_are_reported_before_userspace_is_built(monkeypatch: pytest.MonkeyPatch) -> None:
    events: list[str] = []
    ebpf = SimpleNamespace(call=None, what="eBPF crate probe-ebpf", target=None, mirror_dirs=())
    userspace = SimpleNamespace(call=None, what="userspace crates probe", crates=("probe",))
    plan: Any = SimpleNamespace(configs=(), ebpf=(ebpf,), userspace=userspace, publication=None)

    def cargo(call: object, what: str, *_: object) -> tuple[_process.Completed, int]:
        events.append(f"cargo {what}")
        return _process.Completed(_process.Command(("cargo",)), 0, "", ""), 0

    monkeypatch.setattr(execute, "_cargo", cargo)
    monkeypatch.setattr(execute, "_say_overridden", lambda *_: None)
    monkeypatch.setattr(execute, "publish", lambda *_: [published()])
    monkeypatch.setattr(execute, "gate_aya_build", lambda *_: [])
    monkeypatch.setattr(execute, "record_built", lambda *_: None)
    monkeypatch.setattr(execute, "check_embedded", lambda *_: None)
    monkeypatch.setattr(execute.messages, "executables", lambda _: [Path("/t/release/probe")])
    result = execute.execute(plan, on_object=lambda obj: events.append(f"verified {obj.crate}"))
    assert events == ["cargo eBPF crate probe-ebpf", "verified probe-ebpf", "cargo userspace crates probe"]
    assert result.binaries == (Path("/t/release/probe"),)
    assert result.as_json()["binaries"] == ["/t/release/probe"]


@pytest.mark.usefixtures("levels")
@pytest.mark.parametrize("verbose", [False, True])
def test_build_prints_the_summary(
    verbose: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    seen: dict[str, object] = {}

    def run(request: pipeline.BuildRequest, notice: Any = None, on_object: Any = None) -> Any:
        seen["notice"] = notice
        on_object(published())
        print("(userspace cargo runs here)")
        binaries = (Path("/t/release/probe"),)
        executed = execute.Result(objects=[published()], userspace=("probe",), binaries=binaries)
        return SimpleNamespace(executed=executed, reports=[], ok=True, on_kernels=None)

    monkeypatch.setattr(pipeline, "run", run)
    monkeypatch.setattr(pipeline, "remember", lambda *_: None)
    assert run_cli(["build", "--release", *(["-v"] if verbose else [])]) == 0
    out, err = capsys.readouterr()
    assert out.splitlines() == [
        object_line(published()),  # before userspace was built, and not again after it
        "(userspace cargo runs here)",
        "built probe: /t/release/probe",
    ]
    assert re.search(r"^buildbpf: finished in \d+\.\d s$", err, re.MULTILINE), err
    assert (seen["notice"] is not None) is verbose  # RUSTC_BOOTSTRAP's notice only with -v


@pytest.mark.usefixtures("levels")
@pytest.mark.parametrize("verbose", [False, True])
@pytest.mark.parametrize("command", [["run"], ["watch"], ["build", "--watch"]])
def test_run_and_watch_show_the_toolchain_notice_only_with_v(
    command: list[str], verbose: bool, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """As `build`: the RUSTC_BOOTSTRAP notice is for -v, also on every rebuild of a watch."""
    from buildbpf.errors import ConfigError

    seen: list[object] = []

    def run(request: pipeline.BuildRequest, notice: Any = None, on_object: Any = None) -> Any:
        seen.append(notice)
        raise KeyboardInterrupt if "watch" in " ".join(command) else ConfigError("stop here")

    monkeypatch.setattr(pipeline, "run", run)
    monkeypatch.chdir(tmp_path)
    assert run_cli([*command, *(["-v"] if verbose else [])]) == (2 if command == ["run"] else 0)
    assert len(seen) == 1
    assert (seen[0] is not None) is verbose


@pytest.mark.usefixtures("levels")
def test_the_time_a_build_took_counts_from_the_start_of_buildbpf(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a replay handed over, the summary covers the replay's cargo calls too (issue #20)."""
    from buildbpf.build.replay import Handover

    seen: list[object] = []

    def run(request: pipeline.BuildRequest, **_: Any) -> Any:
        seen.append(request.handover)
        executed = execute.Result(objects=[published()], userspace=("probe",))
        return SimpleNamespace(executed=executed, reports=[], ok=True, on_kernels=None)

    monkeypatch.setattr(pipeline, "run", run)
    monkeypatch.setattr(pipeline, "remember", lambda *_: None)
    handover = Handover(started=time.monotonic() - 72.4)
    assert run_cli(["build"], handover) == 0
    assert seen == [handover]  # the pipeline gets what the replay ran
    assert "buildbpf: finished in 1m 12s" in capsys.readouterr().err.splitlines()
