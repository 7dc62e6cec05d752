"""Whether cargo behaves as if it talked to buildbpf's terminal, and text without its colours.

buildbpf reads cargo's stderr through a pipe (to recognise known errors afterwards) and shows
it live; through a pipe cargo would drop its colours and its progress bar. When buildbpf's
own stderr is a terminal, the cargo calls it streams get CARGO_TERM_COLOR and
CARGO_TERM_PROGRESS_WHEN/_WIDTH, as cargo would decide on that terminal; `--color` decides
colour as cargo's own flag does. Standard library only: the no-op replay uses it.
"""

from __future__ import annotations

import os
import sys

TYPE_CHECKING = False  # typing costs an import on the replay path; mypy honours this name
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

CHOICES = ("auto", "always", "never")
_choice = "auto"

# CSI sequences (colours, erase line), OSC sequences (hyperlinks), and two-byte escapes
_ANSI = r"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_]"


def strip_ansi(text: str) -> str:
    """`text` without terminal escape sequences (what the user saw, minus its colours)."""
    import re  # not on the replay path unless a build failed

    return re.sub(_ANSI, "", text)


def set_color(choice: str) -> None:
    """Remember `--color` for every cargo call buildbpf streams from now on."""
    global _choice  # noqa: PLW0603  # one process, one choice: set once from the command line
    if choice not in CHOICES:
        raise ValueError(f"--color must be one of {', '.join(CHOICES)}, not {choice!r}")
    _choice = choice


def color_from_argv(argv: Sequence[str]) -> str | None:
    """The `--color` value in `argv` (the last one wins), `auto` without one, None if invalid."""
    choice = "auto"
    for index, arg in enumerate(argv):
        if arg == "--color":
            choice = argv[index + 1] if index + 1 < len(argv) else ""
        elif arg.startswith("--color="):
            choice = arg.partition("=")[2]
    return choice if choice in CHOICES else None


def _stderr_columns() -> int | None:
    """The width of buildbpf's stderr when it is a terminal, else None."""
    try:
        if not os.isatty(sys.stderr.fileno()):
            return None
        columns = os.get_terminal_size(sys.stderr.fileno()).columns
    except (AttributeError, OSError, ValueError):  # no fileno (a captured stream), closed
        return None
    return columns or 80  # a pty nobody sized reports 0


def cargo_env(
    environ: Mapping[str, str], *, columns: int | None = -1, choice: str | None = None
) -> dict[str, str]:
    """Variables for a cargo whose stderr buildbpf streams to its own.

    `columns` is the width of buildbpf's stderr, None when it is not a terminal (default: ask
    it). The user's own CARGO_TERM_* settings stay as they are, except that `--color
    always|never` wins as cargo's flag does.
    """
    choice = _choice if choice is None else choice
    if columns == -1:
        columns = _stderr_columns()
    dumb = environ.get("TERM") == "dumb"
    env = {}
    if choice != "auto":
        env["CARGO_TERM_COLOR"] = choice
    elif columns is not None and not dumb and "CARGO_TERM_COLOR" not in environ:
        env["CARGO_TERM_COLOR"] = "always"
    if columns is not None and not dumb and "CARGO_TERM_PROGRESS_WHEN" not in environ:
        env["CARGO_TERM_PROGRESS_WHEN"] = "always"  # cargo needs a width with `always`
        env["CARGO_TERM_PROGRESS_WIDTH"] = environ.get("CARGO_TERM_PROGRESS_WIDTH", str(columns))
    return env


def talks_to_terminal(argv0: str) -> bool:
    """Whether a streamed call of `argv0` gets `cargo_env`: cargo itself (a path or a name)."""
    return argv0.rsplit("/", 1)[-1] == "cargo"


# what the short echo of a cargo call keeps: the options that say what is built
_KEPT_WITH_VALUE = frozenset({"-p", "--package", "--target", "--bin", "--features", "--manifest-path"})
_KEPT_FLAGS = frozenset(
    {"--release", "--workspace", "--no-default-features", "--locked", "--offline", "--frozen"}
)
_SAFE = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./-_")


def _quote(word: str) -> str:
    if word and all(c in _SAFE for c in word):
        return word
    return "'" + word.replace("'", "'\"'\"'") + "'"


def short_command(argv: Sequence[str], *, more: bool = False) -> str:
    """The echo of a cargo call a person reads: `cargo build -p x --target bpfel-unknown-none …`.

    Keeps the program's name, the subcommand and the options that say what is built; `…`
    stands for what was left out (the flags, `--config` keys, and the environment when
    `more`). -v (and the plan) show the full line.
    """
    words = [argv[0].rsplit("/", 1)[-1]]
    rest = list(argv[1:])
    while rest and rest[0].startswith("+"):  # cargo +toolchain
        words.append(rest.pop(0))
    if rest:
        words.append(rest.pop(0))  # the subcommand
    dropped = more
    while rest:
        arg = rest.pop(0)
        if arg in _KEPT_WITH_VALUE and rest:
            words += [arg, rest.pop(0)]
        elif arg in _KEPT_FLAGS:
            words.append(arg)
        else:
            dropped = True
    return " ".join(_quote(w) for w in words) + (" …" if dropped else "")


def duration(seconds: float) -> str:
    """`4.2 s`, or `1m 12s` as cargo says it."""
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes}m {rest:02d}s"
