"""The one place that runs external processes.

Every call is echoed as a copy-pasteable shell line (`+ cd DIR && VAR=x cargo ...`),
environment removals are logged at debug level, output is streamed live while
being captured (so known errors can be recognised afterwards), and a failure
becomes a domain error instead of a traceback.
"""

from __future__ import annotations

import functools
import logging
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from buildbpf import _child, terminal
from buildbpf.errors import CargoError, ConfigError, Interrupted, ToolchainError

Rewrite = Callable[[str], str]  # what a streamed stderr shows instead of what was said

log = logging.getLogger("buildbpf")


def _quote(value: str) -> str:
    """shlex.quote, but control characters (CARGO_ENCODED_RUSTFLAGS' \\x1f) as bash $'..'."""
    if not any(ord(c) < 0x20 for c in value):
        return shlex.quote(value)
    escaped = "".join(f"\\x{ord(c):02x}" if ord(c) < 0x20 else ("\\" + c if c in "\\'" else c) for c in value)
    return f"$'{escaped}'"


@dataclass(frozen=True)
class Command:
    """A process to run: argv, working directory and environment changes.

    The one shape of a call: the plan holds cargo's as these (build/plan.py), `run_command`
    runs them, and the replay record is made from them (build/record.py).
    """

    argv: tuple[str, ...]
    cwd: Path | None = None
    env_set: Mapping[str, str] = field(default_factory=dict)
    env_remove: Collection[str] = ()  # kept as a sorted tuple: a plan prints it in a stable order

    def __post_init__(self) -> None:
        object.__setattr__(self, "argv", tuple(os.fspath(a) for a in self.argv))
        object.__setattr__(self, "env_remove", tuple(sorted(set(self.env_remove))))

    def shell_line(self) -> str:
        """A line a user can paste into a shell to run the same thing."""
        parts: list[str] = []
        if self.cwd is not None:
            parts += ["cd", shlex.quote(str(self.cwd)), "&&"]
        if self.env_remove:
            parts.append("env")
            for name in sorted(self.env_remove):
                parts += ["-u", name]
        parts += [f"{k}={_quote(v)}" for k, v in sorted(self.env_set.items())]
        parts += [_quote(a) for a in self.argv]
        return " ".join(parts)

    def short_line(self) -> str:
        """What buildbpf echoes without -v: cargo's calls as `cargo build -p x --target … …`,
        any other program as its full shell line."""
        if not terminal.talks_to_terminal(self.argv[0]):
            return self.shell_line()
        return terminal.short_command(self.argv, more=bool(self.env_set or self.env_remove))

    def environment(self, base: Mapping[str, str] | None = None) -> dict[str, str]:
        """The full environment the process gets."""
        env = dict(os.environ if base is None else base)
        for name in self.env_remove:
            env.pop(name, None)
        env.update(self.env_set)
        return env


def exited(returncode: int) -> str:
    """How a process ended, for a message: `exited with status 101`, or `was killed by SIGKILL`
    (a negative status: the out-of-memory killer, a timeout, a Ctrl-C in another terminal)."""
    if returncode >= 0:
        return f"exited with status {returncode}"
    import signal

    try:
        name = signal.Signals(-returncode).name
    except ValueError:
        name = f"signal {-returncode}"
    return f"was killed by {name}"


@dataclass(frozen=True)
class Completed:
    """What a finished process returned."""

    command: Command
    returncode: int
    stdout: str
    stderr: str


def _pump(
    source: IO[bytes], sink: list[bytes], echo: IO[str] | None, rewrite: Rewrite | None = None
) -> None:
    """Copy `source` into `sink` and, as it arrives, to `echo`: in chunks, not lines, since
    cargo's progress bar redraws one line with carriage returns and never ends it. `rewrite`
    changes what `echo` shows (never what is kept), a whole line (or redraw) at a time."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    read = getattr(source, "read1", source.read)
    pending = ""  # with `rewrite`: the unfinished line
    while chunk := read(65536):
        sink.append(chunk)
        if echo is None:
            continue
        pending += decoder.decode(chunk)
        cut = max(pending.rfind("\n"), pending.rfind("\r")) + 1 if rewrite is not None else len(pending)
        if cut:
            echo.write(rewrite(pending[:cut]) if rewrite is not None else pending[:cut])
            echo.flush()
            pending = pending[cut:]
    if echo is not None and (rest := pending + decoder.decode(b"", final=True)):
        echo.write(rewrite(rest) if rewrite is not None else rest)
        echo.flush()


def terminal_env(command: Command, *, stream: bool) -> dict[str, str]:
    """What a streamed cargo gets so that it behaves as on buildbpf's terminal (terminal.py);
    nothing for a quiet query or another program."""
    if not stream or not terminal.talks_to_terminal(command.argv[0]):
        return {}
    return terminal.cargo_env(command.environment())


def _nul_error(command: Command) -> ConfigError:
    """A NUL character in an argument or variable: no program can be started with it."""
    return ConfigError(
        f"cannot run `{command.shell_line()}`: an argument or variable holds a NUL character",
        fix="remove the \\u0000 from the setting it came from",
    )


def _start(command: Command, *, stream: bool) -> subprocess.Popen[bytes]:
    """Start `command` in a process group of its own, known to the reaper (`_child`)."""
    from plumbum import local  # plumbum is slow to import: only when a process runs
    from plumbum.commands.processes import CommandNotFound

    try:
        with local.env():
            for name in command.env_remove:
                if name in local.env:
                    del local.env[name]
            local.env.update(command.env_set)
            local.env.update(terminal_env(command, stream=stream))
            cmd: Any = local[command.argv[0]][list(command.argv[1:])]
            if command.cwd is not None:
                cmd = cmd.with_cwd(str(command.cwd))
            proc = cmd.popen(
                stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                preexec_fn=functools.partial(_child.in_child, os.getpid()),
            )
            _child.guard(proc.pid)
    except CommandNotFound as exc:
        raise ToolchainError(f"{command.argv[0]} was not found", fix="install it or put it on PATH") from exc
    except (FileNotFoundError, NotADirectoryError, PermissionError) as exc:
        raise ToolchainError(f"cannot run {command.argv[0]}: {exc}") from exc
    except ValueError as exc:  # "embedded null byte": the readers of each input refuse one first
        raise _nul_error(command) from exc
    return proc  # type: ignore[no-any-return]


def _spawn(
    command: Command,
    *,
    stream: bool,
    echo_stdout: bool,
    timeout: float | None,
    rewrite: Rewrite | None = None,
) -> Completed:
    """Run `command`; the single point where a process is created (unit tests forbid it).

    With `stream`, stderr (cargo's progress and rendered diagnostics) is shown live, through
    `rewrite` if given, and stdout too unless it is machine output (`echo_stdout=False`);
    both are captured as they were.
    """
    proc = _start(command, stream=stream)
    out: list[bytes] = []
    err: list[bytes] = []
    pumps = [
        threading.Thread(
            target=_pump, args=(proc.stdout, out, sys.stdout if stream and echo_stdout else None)
        ),
        threading.Thread(target=_pump, args=(proc.stderr, err, sys.stderr if stream else None, rewrite)),
    ]
    for pump in pumps:
        pump.start()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired as exc:
        _stop(proc, _child.SIGKILL)
        for pump in pumps:  # all it said, for _timeout_fix
            pump.join()
        raise CargoError(
            f"`{command.shell_line()}` did not finish within {timeout:.0f} s",
            fix=_timeout_fix(b"".join(err).decode(errors="replace")),
        ) from exc
    except KeyboardInterrupt as exc:  # Ctrl-C reached buildbpf alone: the child's group is in another
        _stop(proc, _child.signal_for(exc))
        raise
    else:
        _child.forget(proc.pid)
    finally:
        for pump in pumps:
            pump.join()
    return Completed(
        command,
        int(proc.returncode),
        b"".join(out).decode(errors="replace"),
        b"".join(err).decode(errors="replace"),
    )


def _stop(proc: subprocess.Popen[bytes], first: int) -> None:
    """Stop `proc` and everything it started (`_child.stop`), and wait for it."""
    if proc.returncode is None:  # not waited for yet: its group id is still its own
        _child.stop(proc.pid, first)
        proc.wait()
    _child.forget(proc.pid)


def _timeout_fix(stderr: str) -> str:
    """What to do about a cargo call that ran out of time, from what it said meanwhile."""
    lines = terminal.strip_ansi(stderr).splitlines()
    # cargo's own status line (a build script's nested cargo would be indented in its output)
    if any(line.startswith("    Blocking waiting for file lock") for line in lines):
        return (
            "another cargo is using the target dir (cargo waited for its lock all along): let it "
            "finish or stop it, then build again"
        )
    return (
        "cargo was still working: a build script may be stuck (a nested cargo on the same target "
        "dir waits forever for this one's lock), or the build needs longer (cargo_timeout in "
        "buildbpf.toml, BUILDBPF_CARGO_TIMEOUT)"
    )


def run(
    argv: Sequence[str | os.PathLike[str]],
    *,
    cwd: Path | None = None,
    env_set: Mapping[str, str] | None = None,
    env_remove: Iterable[str] = (),
    echo: bool = True,
    stream: bool = True,
    echo_stdout: bool = True,
    check: bool = True,
    timeout: float | None = None,
) -> Completed:
    """Run a command, echoing it first; raise `CargoError` on a non-zero exit if `check`."""
    command = Command(tuple(os.fspath(a) for a in argv), cwd, dict(env_set or {}), tuple(env_remove))
    return run_command(
        command, echo=echo, stream=stream, echo_stdout=echo_stdout, check=check, timeout=timeout
    )


def run_command(
    command: Command,
    *,
    echo: bool = True,
    stream: bool = True,
    echo_stdout: bool = True,
    check: bool = True,
    timeout: float | None = None,
    rewrite: Rewrite | None = None,
) -> Completed:
    """Run a `Command` as `run` does (echoed, streamed, a failure a `CargoError` if `check`);
    `rewrite` changes how its stderr is shown."""
    line = command.shell_line()
    if echo:
        # the full line (environment, flags, --config keys) with -v; the plan shows it too
        shown = line if log.isEnabledFor(logging.DEBUG) else command.short_line()
        print(f"+ {shown}", file=sys.stderr, flush=True)
    else:
        log.debug("+ %s", line)
    if command.env_remove:
        log.debug("removed from the environment: %s", ", ".join(sorted(command.env_remove)))
    try:
        done = _spawn(command, stream=stream, echo_stdout=echo_stdout, timeout=timeout, rewrite=rewrite)
    except KeyboardInterrupt as exc:
        raise Interrupted.by(exc, f"while running {command.argv[0]}") from exc
    if check and done.returncode != 0:
        raise CargoError(
            f"`{line}` {exited(done.returncode)}",
            fix="read the output above; the first error is usually the cause",
        )
    return done


def probe(
    argv: Sequence[str | os.PathLike[str]],
    *,
    timeout: float = 30.0,
    env_set: Mapping[str, str] | None = None,
) -> Completed | None:
    """Run a quiet query (`rustc -vV`, `bpf-linker --version`); None if it cannot start."""
    try:
        return run(argv, env_set=env_set, echo=False, stream=False, check=False, timeout=timeout)
    except (ToolchainError, CargoError):
        return None


def exec_replace(command: Command) -> None:
    """Replace buildbpf with `command` (as `cargo run` does on Unix): the program gets the
    terminal, its signals and its exit code directly. Never returns; unit tests forbid it."""
    print(f"+ {command.shell_line()}", file=sys.stderr, flush=True)
    sys.stdout.flush()
    if command.cwd is not None:
        os.chdir(command.cwd)
    _child.end_reaper()
    try:
        os.execvpe(command.argv[0], list(command.argv), command.environment())
    except ValueError as exc:
        raise _nul_error(command) from exc
    except OSError as exc:
        raise ToolchainError(
            f"cannot run {command.argv[0]}: {exc.strerror}",
            fix="install it or put it on PATH, or set `runner` in buildbpf.toml (or BUILDBPF_RUNNER)",
        ) from exc
