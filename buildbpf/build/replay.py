"""No-op fast path: replay the last build's cargo calls when nothing buildbpf reads changed.

A `buildbpf build` that wrote no file and printed no warning leaves a record in
the cache: the cargo calls it ran, the lines it printed, and the stat (mtime,
ctime, size, inode) of every file its plan came from (manifests, buildbpf.toml,
cargo config and rust-toolchain files from the working directory up, the
toolchain binaries and rust-src markers, bpf-linker, buildbpf's own sources) and
of every object it verified. The next build with the same arguments, directory
and environment stats those files and, when all match, runs the same cargo calls
directly: cargo still decides what is fresh. Anything else hands over to the
full path, which plans again: a changed or new input, a unit cargo rebuilt in an
eBPF crate (its object must be gated), an object that is not the one verified.

Only the standard library is imported on the replay path: it runs instead of
loading typer, pydantic, plumbum and `cargo metadata`, which cost more than the
no-op cargo calls themselves. The recording side, on the full path, is build/record.py.
"""

from __future__ import annotations

import marshal
import os
import sys
import time

from buildbpf import __version__, xdg
from buildbpf._child import forget, guard, in_child, signal_for, stop
from buildbpf.cargo.messages import all_fresh
from buildbpf.terminal import (
    cargo_env,
    color_from_argv,
    duration,
    set_color,
    short_command,
    talks_to_terminal,
)

TYPE_CHECKING = False  # typing itself costs 8 ms to import; mypy honours this name
if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence

FORMAT = 1
DISABLE = "BUILDBPF_NO_REPLAY"
# Variables that can change buildbpf's plan or the environment cargo gets from it.
_ENV_PREFIXES = ("BUILDBPF_", "CARGO", "RUST", "XDG_")
_ENV_NAMES = frozenset({"PATH", "HOME"})
# Arguments whose output is not a build (or not only one): always the full path.
_FULL_PATH_ARGS = frozenset({"--dry-run", "--print-plan", "--check", "--load", "--help", "-h", "--debug",
                             "--watch"})  # fmt: skip
_VERBOSE = frozenset({"-v", "--verbose"})
Stat = tuple[int, int, int, int]


def eligible(argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """Whether `buildbpf ARGV` may be replayed: a plain `build` with its usual options."""
    # BUILDBPF_NO_REPLAY=0 keeps the fast path; any other value leaves it (the full path
    # refuses a value that is not a boolean: environment.env_flag)
    disabled = environ.get(DISABLE, "").strip().lower() not in ("", "0", "false", "no", "off")
    if not argv or argv[0] != "build" or disabled:
        return False
    for arg in argv[1:]:
        if arg in _FULL_PATH_ARGS or arg.startswith(("--print-plan", "--kernel")):  # --kernel boots VMs
            return False
        if arg.startswith("-") and not arg.startswith("--") and arg not in ("-p", *_VERBOSE):
            return False  # a cluster of short flags such as `-vh`
    return True


def environment(environ: Mapping[str, str]) -> dict[str, str]:
    """The part of the environment a recorded build depends on."""
    return {k: v for k, v in environ.items() if k in _ENV_NAMES or k.startswith(_ENV_PREFIXES)}


def record_path(cwd: str, argv: Sequence[str]) -> str:
    """The record of `buildbpf ARGV` run in `cwd` (the record repeats both, to rule out collisions)."""
    digest = 0xCBF29CE484222325  # 64-bit FNV-1a: stable across runs, no hashlib import
    for byte in "\0".join([cwd, *argv]).encode("utf-8", "surrogateescape"):
        digest = ((digest ^ byte) * 0x100000001B3) & 0xFFFFFFFFFFFFFFFF
    name = f"{digest:016x}.{sys.implementation.cache_tag}.marshal"  # marshal's format is per-Python
    return os.path.join(xdg.cache_dir(), "replay", name)


def stat_of(path: str) -> Stat | None:
    """What identifies a file's content without reading it; None if it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return (st.st_mtime_ns, st.st_ctime_ns, st.st_size, st.st_ino)


# --- replaying (before anything heavy is imported) ----------------------------------------


def call_key(
    argv: Iterable[object], cwd: object, env_set: Mapping[str, str], env_remove: Iterable[str]
) -> tuple[object, ...]:
    """What identifies a cargo call: the same key, the same call (as recorded or as planned)."""
    return (tuple(str(a) for a in argv), str(cwd), tuple(sorted(env_set.items())), tuple(env_remove))


class Handover:
    """When buildbpf started, and the cargo calls a replay ran before it handed over to the
    full path: the full path uses their results instead of running them again."""

    def __init__(self, started: float | None = None) -> None:
        self.started = time.monotonic() if started is None else started  # on the monotonic clock
        self._ran: dict[tuple[object, ...], tuple[int, str, str]] = {}

    def ran(self, call: Mapping[str, object], started_ns: int, stdout: str, stderr: str) -> None:
        """Keep the result of a recorded call that exited 0 (`started_ns`: when it started)."""
        key = call_key(call["argv"], call["cwd"], call["env_set"], call["env_remove"])  # type: ignore[arg-type]
        self._ran[key] = (started_ns, stdout, stderr)

    def take(self, key: tuple[object, ...]) -> tuple[int, str, str] | None:
        """(started_ns, stdout, stderr) of the call with this `call_key`, if the replay ran it;
        each result is taken once."""
        return self._ran.pop(key, None)

    def forget(self) -> None:
        """Drop every result: the full path changed what the calls would do."""
        self._ran.clear()


def _load(path: str) -> dict[str, object] | None:
    try:
        with open(path, "rb") as file:
            record = marshal.load(file)
    except (OSError, EOFError, ValueError, TypeError):
        return None
    return record if isinstance(record, dict) else None


def _changed(fingerprints: object) -> str | None:
    """The first recorded file whose stat differs now, or None."""
    assert isinstance(fingerprints, list)
    for path, recorded in fingerprints:
        if stat_of(path) != recorded:
            return str(path)
    return None


def _plain(text: str) -> str:
    """`text` without CSI sequences (cargo's colours, erase-line); `re` costs the replay 6 ms."""
    out, i = [], 0
    while (start := text.find("\x1b[", i)) >= 0:
        out.append(text[i:start])
        end = start + 2
        while end < len(text) and not "@" <= text[end] <= "~":
            end += 1
        i = end + 1
    out.append(text[i:])
    return "".join(out)


class _Shown:
    """cargo's stderr during a replay. What a no-op cargo says (`Finished ...` and nothing
    else) is held back, the call's echo too; anything more (a unit compiled, a warning, a
    lock wait, an error) shows the echo and all of it, live from then on."""

    def __init__(self, echo: str, *, hold: bool) -> None:
        self.echo = echo
        self.held: bytes | None = b""
        if not hold:  # -v: every call and all it says, as it happens
            self.release()

    def write(self, chunk: bytes) -> None:
        if self.held is None:
            sys.stderr.buffer.write(chunk)
            sys.stderr.flush()
            return
        self.held += chunk
        if not _quiet(self.held, whole=False):
            self.release()

    def end(self, code: int) -> None:
        """cargo exited: what is still held is shown unless it was only a no-op's `Finished`."""
        if self.held is not None and (code != 0 or not _quiet(self.held, whole=True)):
            self.release()

    def release(self) -> None:
        """Show the echo and what was held back; from now on, everything as it comes."""
        if self.held is None:
            return
        held, self.held = self.held, None
        print(f"+ {self.echo}", file=sys.stderr, flush=True)
        sys.stderr.buffer.write(held)
        sys.stderr.flush()


def _quiet(held: bytes, *, whole: bool) -> bool:
    """Whether cargo's stderr `held` is only what a no-op says; without `whole`, its last line
    (not ended yet: `\r` ends a progress bar's) is not judged yet."""
    lines = held.decode(errors="replace").replace("\r", "\n").split("\n")
    lines = lines if whole else lines[:-1]
    return all(not (plain := _plain(line).strip()) or plain.startswith("Finished ") for line in lines)


def _spawn(call: Mapping[str, object], shown: _Shown) -> tuple[int, str, str]:
    """Run a recorded cargo call: stderr kept and passed to `shown`, stdout (JSON messages) kept."""
    argv = [str(a) for a in call["argv"]]  # type: ignore[attr-defined]
    env = dict(os.environ)
    for name in call["env_remove"]:  # type: ignore[attr-defined]
        env.pop(name, None)
    env.update(call["env_set"])  # type: ignore[call-overload]
    if talks_to_terminal(argv[0]):
        env.update(cargo_env(env))  # colours and progress, as on the full path (_process)
    if not os.access(argv[0], os.X_OK):  # an exec failure would only show in the child
        raise FileNotFoundError(f"{argv[0]} is not an executable file")
    stdout = os.memfd_create("cargo-stdout")
    read_end, write_end = os.pipe()
    devnull = os.open(os.devnull, os.O_RDONLY)
    parent = os.getpid()
    try:
        pid = os.fork()
        if pid == 0:  # the child: never returns to Python
            try:
                in_child(parent)
                os.chdir(str(call["cwd"]))
                os.dup2(devnull, 0)
                os.dup2(stdout, 1)
                os.dup2(write_end, 2)
                os.execve(argv[0], argv, env)
            finally:
                os._exit(127)
        guard(pid)
        os.close(write_end)
        os.close(devnull)
        err, status = _collect(pid, read_end, shown)
        os.lseek(stdout, 0, os.SEEK_SET)
        with open(stdout, "rb", closefd=False) as file:
            out = file.read()
    finally:
        os.close(read_end)
        os.close(stdout)
    return (
        os.waitstatus_to_exitcode(status),
        out.decode(errors="replace"),
        b"".join(err).decode(errors="replace"),
    )


def _collect(pid: int, read_end: int, shown: _Shown) -> tuple[list[bytes], int]:
    """Keep the child's stderr and pass it to `shown` until it exits; its wait status. On
    Ctrl-C (or SIGTERM) the child and its group are stopped first: they are not in
    buildbpf's group any more."""
    err: list[bytes] = []
    try:
        while chunk := os.read(read_end, 65536):
            err.append(chunk)
            shown.write(chunk)
        _, status = os.waitpid(pid, 0)
    except KeyboardInterrupt as interrupt:
        stop(pid, signal_for(interrupt))
        try:  # noqa: SIM105 (contextlib is one more import on this path)
            os.waitpid(pid, 0)
        except ChildProcessError:  # the interrupt came right after waitpid had reaped it
            pass
        forget(pid)
        raise
    forget(pid)
    return err, status


def _unchanged_record(argv: Sequence[str], cwd: str, verbose: bool) -> dict[str, object] | None:
    """The record of `buildbpf ARGV` in `cwd` when its environment and inputs are as recorded."""
    path = record_path(cwd, argv)
    record = _load(path)
    if (
        record is None
        or record.get("format") != FORMAT
        or record.get("version") != __version__
        or record.get("cwd") != cwd
        or record.get("argv") != list(argv)
    ):
        return None
    if record.get("env") != environment(os.environ):
        _hand_over(verbose, "the environment changed")
        return None
    if changed := _changed(record["inputs"]):
        _hand_over(verbose, f"{changed} changed")
        return None
    if verbose:
        print(
            f"buildbpf: no input of the last plan changed ({path}); replaying its cargo calls",
            file=sys.stderr,
        )
    return record


_HAND_OVER = -1  # what `_replay_call` returns when the full path must take over


def _replay_call(
    call: Mapping[str, object], argv: Sequence[str], verbose: bool, handover: Handover
) -> int | None:
    """Run one recorded call: None when it went as recorded, else buildbpf's exit code, or
    `_HAND_OVER` (with the call's result in `handover` when it ran)."""
    command = call["argv"][0]  # type: ignore[index]
    argv = [str(a) for a in call["argv"]]  # type: ignore[attr-defined]
    short = talks_to_terminal(argv[0]) and not verbose  # as _process echoes it
    more = bool(call["env_set"] or call["env_remove"])
    shown = _Shown(short_command(argv, more=more) if short else str(call["echo"]), hold=not verbose)
    started_ns = time.time_ns() - 20_000_000  # as execute.execute: file times lag the clock
    try:
        code, out, err = _spawn(call, shown)
        shown.end(code)
    except OSError as exc:
        _hand_over(verbose, f"cannot run {command}: {exc}")
        return _HAND_OVER
    except KeyboardInterrupt as interrupt:
        from buildbpf.errors import Interrupted, render, wants_json

        return render(Interrupted.by(interrupt, f"while running {command}"), as_json=wants_json(argv))
    if code != 0:
        from buildbpf.build.advice import cargo_failure
        from buildbpf.errors import render, wants_json

        return render(cargo_failure(str(call["what"]), code, out + err), as_json=wants_json(argv))
    handover.ran(call, started_ns, out, err)
    if call["gate"] and not all_fresh(out):
        _hand_over(verbose, f"cargo rebuilt part of {call['what']}")
        return _HAND_OVER
    if changed := _changed(call["outputs"]):
        _hand_over(verbose, f"{changed} is not the object buildbpf verified")
        return _HAND_OVER
    return None


def replay(argv: Sequence[str], handover: Handover | None = None) -> int | None:
    """Replay the recorded build of `buildbpf ARGV`: its exit code, or None for the full path,
    which finds in `handover` the results of the calls this one ran."""
    handover = Handover() if handover is None else handover
    if not eligible(argv, os.environ):
        return None
    verbose = any(arg in _VERBOSE for arg in argv)
    color = color_from_argv(argv)
    if color is None:  # the full path reports a bad --color
        return None
    set_color(color)
    try:
        cwd = os.getcwd()
    except OSError:  # a directory deleted under the shell: the full path explains it
        return None
    record = _unchanged_record(argv, cwd, verbose)
    if record is None:
        return None
    for line in record["prelude"]:  # type: ignore[attr-defined]
        print(line, file=sys.stderr)
    for call in record["calls"]:  # type: ignore[attr-defined]
        stopped = _replay_call(call, argv, verbose, handover)
        if stopped is not None:
            return None if stopped == _HAND_OVER else stopped
    sys.stdout.write(str(record["stdout"]))
    sys.stdout.flush()
    elapsed = duration(time.monotonic() - handover.started)
    print(f"buildbpf: finished in {elapsed}", file=sys.stderr)  # as cli/build
    return 0


def _hand_over(verbose: bool, why: str) -> None:
    """Say (with -v) why the full path runs; the caller returns None."""
    if verbose:
        print(f"buildbpf: {why}; planning the build again", file=sys.stderr)
