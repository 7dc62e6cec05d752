"""`--help`: cargo-like value names, no type placeholders on flags, init's PATH required,
docstrings wrapped by paragraph, shell completion offered."""

from __future__ import annotations

import re

import pytest

from buildbpf.cli.app import run_cli

COMMANDS = ["doctor", "setup", "build", "config", "init", "check", "schema"]


def _help(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert run_cli([*argv, "--help"]) == 0
    return capsys.readouterr().out


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_no_python_type_placeholders(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = _help(capsys, *command)
    assert not re.search(r"<(bool|str|int|float|list\[[^]]*\])>", text), text
    # every flag stands alone: `--release   Build ...`, `--dry-run   Show ...`
    for flag in ("--help", "--verbose", "--release", "--dry-run", "--force", "--list"):
        for line in text.splitlines():
            if re.match(rf"\s+(-\w, )?{re.escape(flag)}\b", line):
                assert not re.match(rf"\s+(-\w, )?{re.escape(flag)} <", line), line


def test_values_named_like_cargo(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "build")
    assert "-p, --package <PACKAGE>" in text
    assert "--message-format <human|json>" in text


def test_init_path_is_required(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "init")
    usage = text.splitlines()[0]
    assert usage.startswith("Usage: buildbpf init [OPTIONS] PATH"), usage  # not `[PATH]` or `{PATH}`
    assert re.search(r"PATH\b.*\[required\]", text), text


def test_optional_arguments_keep_their_brackets(capsys: pytest.CaptureFixture[str]) -> None:
    usage = _help(capsys, "run").splitlines()[0]
    assert usage == "Usage: buildbpf run [OPTIONS] [ARGS]...", usage


def test_init_without_path_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["init"]) == 2
    assert "Missing argument 'PATH'" in capsys.readouterr().err


def test_init_list_needs_no_path(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["init", "--list"]) == 0
    assert capsys.readouterr().out.startswith("xdp ")


def test_build_help_says_what_build_does(capsys: pytest.CaptureFixture[str]) -> None:
    """What it does for the user; how a no-op is replayed is the README's business."""
    text = _help(capsys, "build")
    description = text.split("Options:")[0]
    assert "verify every object" in description and "BUILDBPF_OBJECTS" in description
    assert "replay" not in text.lower() and "BUILDBPF_NO_REPLAY" not in text


def test_docstring_paragraphs_are_rewrapped_whole(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    text = _help(capsys, "build")
    # the docstring breaks its source lines after "one codegen unit,": help must not
    lines = [line.strip() for line in text.splitlines()]
    assert "codegen unit," not in lines
    assert all(len(line) <= 80 for line in text.splitlines())


def test_shell_completion_offered(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys)
    assert "--install-completion" in text and "--show-completion" in text
