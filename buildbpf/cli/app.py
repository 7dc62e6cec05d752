"""The `buildbpf` command line: the typer app, its main options, and `run_cli`, the one place
every domain error becomes a message and an exit code.

Each command lives in its own module (build, check, init, config, toolchain): it parses
its options, calls one function and renders what comes back.
"""

from __future__ import annotations

import logging
import os
import sys
import traceback
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from buildbpf import __version__
from buildbpf.cli import build, check, clean, config, init, kernels, lint, run, toolchain, watch
from buildbpf.cli.help import name_values
from buildbpf.errors import (
    BuildbpfError,
    ConfigError,
    FileSystemError,
    Interrupted,
    error_json,
    render,
    wants_json,
)

if TYPE_CHECKING:
    from buildbpf.build.replay import Handover


class _Commands(typer.core.TyperGroup):
    """buildbpf's commands. typer turns a KeyboardInterrupt into a silent exit 130: here it
    becomes `Interrupted` first, for `run_cli` to say so (and give SIGTERM its 143)."""

    def invoke(self, ctx: Any) -> Any:  # typer._click.Context: typer vendors its own click
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as interrupt:
            raise Interrupted.by(interrupt) from interrupt


app = typer.Typer(
    cls=_Commands,
    name="buildbpf",
    help="Build Rust eBPF (Aya) workspaces: toolchain, flags, bpf-linker and a verified object, "
    "without a hand-written xtask.",
    no_args_is_help=True,
    add_completion=True,
    rich_markup_mode=None,  # click's help: paragraphs re-wrapped whole, flags without placeholders
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)

log = logging.getLogger("buildbpf")


def _version(value: bool) -> None:
    if value:
        print(f"buildbpf {__version__}")
        raise typer.Exit(0)


@app.callback()
def main_options(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Show debug output.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show Python tracebacks on errors.")] = False,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Build Rust eBPF workspaces without an xtask."""
    logging.basicConfig(
        level=logging.DEBUG if verbose or debug else logging.INFO,
        format="buildbpf: %(message)s",
        stream=sys.stderr,
    )
    from buildbpf.build.environment import unknown_variables

    for line in unknown_variables(os.environ):
        log.warning("%s", line)


# in the order `buildbpf --help` lists them
for command in (
    toolchain.doctor,
    toolchain.setup,
    build.build,
    run.run,
    watch.watch,
    config.config,
    init.init,
    check.check,
    kernels.kernels,
    clean.clean,
    lint.lint,
    config.schema,
):
    app.command()(command)


def _report(error: BuildbpfError, debug: bool, as_json: bool = False) -> int:
    if debug:
        traceback.print_exc()
    return render(error, as_json=as_json)


# What a failed call was doing, by the function that raised (the innermost frame): the
# last-resort handler below names it, since an OSError carries only the path and errno.
_OPERATIONS = {
    "mkdir": "create the directory",
    "makedirs": "create the directory",
    "open": "open",
    "read_text": "read",
    "read_bytes": "read",
    "write_text": "write",
    "write_bytes": "write",
    "write": "write",
    "unlink": "remove",
    "rmdir": "remove the directory",
    "rmtree": "remove the directory",
    "replace": "rename",
    "rename": "rename",
    "chmod": "change the mode of",
    "symlink_to": "create the symbolic link",
    "copyfile": "copy",
    "copy2": "copy",
    "iterdir": "list the directory",
    "scandir": "list the directory",
    "mkstemp": "create a temporary file in",
    "mkdtemp": "create a temporary directory in",
    "stat": "look at",
}


def _operation(exc: OSError) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    for frame in reversed(frames):
        if frame.name in _OPERATIONS:
            return _OPERATIONS[frame.name]
    return f"access (in {frames[-1].name})" if frames else "access"


def run_cli(argv: list[str], handover: Handover | None = None) -> int:
    """Run the CLI on `argv`; the one place errors become messages and exit codes.

    In a JSON mode (`--json`, `--print-plan`, `--message-format json`) every error is also one
    `{"error": {...}}` object on stdout. An OSError no domain error explains is a
    FileSystemError (exit 8) naming the path, the operation and the errno; `--debug` shows
    the traceback. `handover`: what a replay of this build did before it handed over.
    """
    from buildbpf.build import record

    debug = "--debug" in argv
    as_json = wants_json(argv)
    try:
        Path.cwd()
    except OSError as exc:
        if argv and not {"--help", "-h"} & set(argv):
            gone = f"the current directory is gone ({exc.strerror})"
            return _report(ConfigError(gone, fix="cd into the workspace again"), debug, as_json)
    recorder = record.begin(argv)
    try:
        # in a JSON mode typer must not print usage errors itself: they become JSON too
        command = name_values(typer.main.get_command(app))
        invocation = record.Invocation(recorder, handover)
        code = command(args=argv, prog_name="buildbpf", obj=invocation, standalone_mode=not as_json)
        return code if isinstance(code, int) else 0
    except SystemExit as exit_:
        code = exit_.code
        return code if isinstance(code, int) else (0 if code is None else 1)
    except BuildbpfError as error:
        return _report(error, debug, as_json)
    except (KeyboardInterrupt, typer.Abort) as interrupt:
        return _report(Interrupted.by(interrupt), debug, as_json)
    except typer.TyperException as usage:  # only reached in a JSON mode (standalone_mode=False)
        show = getattr(usage, "show", None)
        if show is not None:
            show()
        exit_code = int(getattr(usage, "exit_code", 2))
        message = usage.format_message() if hasattr(usage, "format_message") else str(usage)
        print(error_json("usage error", message, "see `buildbpf --help`", exit_code))
        return exit_code
    except OSError as exc:  # last resort: no traceback for a read-only, immutable or full disk
        return _report(FileSystemError.from_os(exc, _operation(exc)), debug, as_json)
    finally:
        if recorder is not None:
            recorder.close()
