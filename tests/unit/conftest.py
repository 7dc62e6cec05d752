"""Unit tests never start a process: the one spawn point of buildbpf.run refuses."""

from __future__ import annotations

import pytest

from buildbpf import run


@pytest.fixture(autouse=True)
def _no_processes(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(command: run.Command, **_: object) -> run.Completed:
        raise AssertionError(f"unit test tried to run a process: {command.shell_line()}")

    monkeypatch.setattr(run, "_spawn", refuse)
