"""Unit tests never start a process: the spawn points (buildbpf.run, buildbpf.replay) refuse."""

from __future__ import annotations

import pytest

from buildbpf import _process
from buildbpf.build import replay


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(command: _process.Command, **_: object) -> _process.Completed:
        raise AssertionError(f"unit test tried to run a process: {command.shell_line()}")

    monkeypatch.setattr(_process, "_spawn", refuse)
    monkeypatch.setattr(_process, "exec_replace", refuse)

    def refuse_replay(call: object, *_: object) -> tuple[int, str, str]:
        raise AssertionError(f"unit test tried to replay a cargo call: {call}")

    monkeypatch.setattr(replay, "_spawn", refuse_replay)
