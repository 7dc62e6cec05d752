"""Cargo's colours and progress through buildbpf: the decision, the streaming, and known-error
recognition on coloured text."""

from __future__ import annotations

import io
from collections.abc import Iterator

import pytest

from buildbpf import _process, terminal
from buildbpf.build.advice import advise

RED_ERROR = (
    "\x1b[0m\x1b[1m\x1b[38;5;9merror[E0463]\x1b[0m\x1b[0m\x1b[1m: can't find crate for `core`\x1b[0m\n"
    "\r\x1b[K\x1b[1m\x1b[36m    Building\x1b[0m [=====>    ] 3/10: aya-ebpf\r"
    "\x1b]8;;https://doc.rust-lang.org\x1b\\link\x1b]8;;\x1b\\\n"
)


@pytest.fixture(autouse=True)
def _auto() -> Iterator[None]:
    yield
    terminal.set_color("auto")


def test_strip_ansi_leaves_the_words() -> None:
    plain = terminal.strip_ansi(RED_ERROR)
    assert "\x1b" not in plain
    assert "error[E0463]: can't find crate for `core`" in plain
    assert "    Building [=====>    ] 3/10: aya-ebpf" in plain
    assert "link" in plain


def test_known_errors_are_recognised_in_coloured_output() -> None:
    coloured = "\x1b[1m\x1b[31merror\x1b[0m: linker `\x1b[1mbpf-linker\x1b[0m` not found"
    assert advise(coloured) == advise(terminal.strip_ansi(coloured))
    assert any("bpf-linker is not where cargo looked" in line for line in advise(coloured))
    assert any("rust-src" in line for line in advise(RED_ERROR))


def test_not_a_terminal_changes_nothing() -> None:
    assert terminal.cargo_env({}, columns=None) == {}


def test_a_terminal_gets_colour_and_progress_at_its_width() -> None:
    assert terminal.cargo_env({"TERM": "xterm-256color"}, columns=132) == {
        "CARGO_TERM_COLOR": "always",
        "CARGO_TERM_PROGRESS_WHEN": "always",
        "CARGO_TERM_PROGRESS_WIDTH": "132",
    }


def test_the_users_own_settings_stay() -> None:
    environ = {"CARGO_TERM_COLOR": "never", "CARGO_TERM_PROGRESS_WHEN": "never"}
    assert terminal.cargo_env(environ, columns=80) == {}
    width = terminal.cargo_env({"CARGO_TERM_PROGRESS_WIDTH": "60"}, columns=80)
    assert width["CARGO_TERM_PROGRESS_WIDTH"] == "60"


def test_a_dumb_terminal_gets_neither() -> None:
    assert terminal.cargo_env({"TERM": "dumb"}, columns=80) == {}


def test_color_flag_wins_as_cargos_does() -> None:
    assert terminal.cargo_env({}, columns=None, choice="always") == {"CARGO_TERM_COLOR": "always"}
    never = terminal.cargo_env({"CARGO_TERM_COLOR": "always"}, columns=80, choice="never")
    assert never["CARGO_TERM_COLOR"] == "never"
    assert never["CARGO_TERM_PROGRESS_WHEN"] == "always"  # progress is not colour
    terminal.set_color("always")
    assert terminal.cargo_env({}, columns=None) == {"CARGO_TERM_COLOR": "always"}
    with pytest.raises(ValueError, match="--color must be one of"):
        terminal.set_color("blue")


@pytest.mark.parametrize(
    ("argv", "choice"),
    [
        (["build"], "auto"),
        (["build", "--color", "never"], "never"),
        (["build", "--color=always", "-p", "x"], "always"),
        (["build", "--color", "always", "--color", "never"], "never"),
        (["build", "--color", "blue"], None),
        (["build", "--color"], None),
    ],
)
def test_color_from_argv(argv: list[str], choice: str | None) -> None:
    assert terminal.color_from_argv(argv) == choice


def test_only_streamed_cargo_calls_get_the_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(terminal, "_stderr_columns", lambda: 100)
    monkeypatch.delenv("CARGO_TERM_COLOR", raising=False)
    monkeypatch.delenv("CARGO_TERM_PROGRESS_WHEN", raising=False)
    monkeypatch.delenv("CARGO_TERM_PROGRESS_WIDTH", raising=False)
    monkeypatch.setenv("TERM", "xterm")
    cargo = _process.Command(("/home/u/.rustup/toolchains/nightly/bin/cargo", "build"))
    assert _process.terminal_env(cargo, stream=True)["CARGO_TERM_PROGRESS_WIDTH"] == "100"
    assert _process.terminal_env(cargo, stream=False) == {}  # a quiet query (`cargo metadata`)
    assert _process.terminal_env(_process.Command(("git", "ls-files")), stream=True) == {}
    # the call's own environment counts as the user's
    mine = _process.Command(("cargo", "build"), env_set={"CARGO_TERM_COLOR": "never"})
    assert "CARGO_TERM_COLOR" not in _process.terminal_env(mine, stream=True)


def test_not_a_terminal_when_stderr_is_captured() -> None:
    assert terminal._stderr_columns() is None  # pytest captures stderr


def test_a_progress_bar_is_shown_before_its_line_ends() -> None:
    """cargo redraws its progress bar with \\r and never ends the line: echo chunks, not lines."""

    class Source(io.BytesIO):
        def read1(self, size: int = -1) -> bytes:  # one small piece at a time, as a pipe gives
            return super().read1(min(size, 3))

    euro = "€".encode()  # three bytes, split across reads
    source = Source(b"\r   Building [=> ] 1/2" + euro + b"\rdone\n")
    sink: list[bytes] = []
    echo = io.StringIO()
    shown: list[str] = []
    echo.flush = lambda: shown.append(echo.getvalue())  # type: ignore[method-assign]
    _process._pump(source, sink, echo)
    assert b"".join(sink) == b"\r   Building [=> ] 1/2" + euro + b"\rdone\n"
    assert echo.getvalue() == "\r   Building [=> ] 1/2€\rdone\n"
    assert any("1/2€" in text and "\n" not in text for text in shown)  # before the line ended


def test_color_option_reaches_every_cargo_call(capsys: pytest.CaptureFixture[str]) -> None:
    from buildbpf.cli.app import run_cli

    run_cli(["check", "--color", "never", "--json", "/dev/null"])  # parsed before the command runs
    assert terminal._choice == "never"
    assert run_cli(["build", "--color", "blue"]) == 2
    assert "'blue' is not one of 'auto', 'always', 'never'" in capsys.readouterr().err
