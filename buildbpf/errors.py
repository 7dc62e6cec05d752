"""Domain errors: one class per kind of failure, each with its own exit code.

The CLI catches `BuildbpfError` in one place and prints the cause and the fix;
a Python traceback reaching a user is a bug (`--debug` shows it on purpose).
"""

from __future__ import annotations

import errno
import sys
from collections.abc import Sequence


class BuildbpfError(Exception):
    """Base of every error a user can cause or fix."""

    exit_code = 1
    kind = "error"

    def __init__(self, message: str, *, fix: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.fix = fix

    def __str__(self) -> str:
        return self.message


class ConfigError(BuildbpfError):
    """Malformed or unknown configuration, or a crate that does not exist."""

    exit_code = 2
    kind = "config error"


class ToolchainError(BuildbpfError):
    """No usable cargo/rustc/rust-src/bpf-linker, or they do not fit together."""

    exit_code = 3
    kind = "toolchain error"


class NamedToolError(ToolchainError):
    """A tool the user named (`BUILDBPF_RUSTC`, `--bpf-linker`, ...) is missing or unusable.

    buildbpf never swaps it for another one, and `setup` installing another would not help.
    """


class CargoError(BuildbpfError):
    """A cargo (or other tool) invocation failed."""

    exit_code = 4
    kind = "build failed"


class ArtifactError(BuildbpfError):
    """A build produced an object that is not loadable eBPF."""

    exit_code = 5
    kind = "artifact rejected"


class SetupError(BuildbpfError):
    """`buildbpf setup` could not install something."""

    exit_code = 6
    kind = "setup failed"


class KernelError(BuildbpfError):
    """The running kernel cannot do what was asked (load, attach, privilege)."""

    exit_code = 7
    kind = "kernel error"


class KernelCheckError(BuildbpfError):
    """Another kernel gave no verdict (`check --kernel`): a download failed, QEMU is missing or
    failed, the guest panicked or hung. Not a verifier failure: the check is incomplete."""

    exit_code = 9
    kind = "kernel check infrastructure error"


class FileSystemError(BuildbpfError):
    """A file or directory could not be read or written: permissions, a read-only or full disk."""

    exit_code = 8
    kind = "file system error"

    @classmethod
    def from_os(cls, exc: OSError, operation: str, path: object = None) -> FileSystemError:
        """`cannot <operation> <path>: <strerror> (<ERRNO>)`, with a fix for the usual causes."""
        where = path if path is not None else exc.filename
        target = f" {where}" if where is not None else ""
        if exc.filename2 is not None:
            target += f" -> {exc.filename2}"
        message = f"cannot {operation}{target}: {exc.strerror or exc}"
        if exc.errno:
            message += f" ({errno.errorcode.get(exc.errno, f'errno {exc.errno}')})"
        return cls(message, fix=_FIXES.get(exc.errno or 0, "check that path and its directory"))


_FIXES = {
    errno.EACCES: "check the permissions of that path and its directories (ls -ld), or run as its owner",
    errno.EPERM: "the file may be immutable (lsattr; chattr -i) or owned by another user",
    errno.EROFS: "that file system is mounted read-only; remount it read-write or work on a copy",
    errno.ENOSPC: "the disk is full: free some space (df -h) and run again",
    errno.EDQUOT: "your disk quota is used up: free some space and run again",
    errno.ENOENT: "that path does not exist (any more); check it and run again",
    errno.ENOTDIR: "a part of that path is a file, not a directory",
    errno.EISDIR: "that path is a directory where a file was expected",
}


class Interrupted(BuildbpfError):
    """The user pressed Ctrl-C (exit 130), or buildbpf got SIGTERM (exit 143)."""

    exit_code = 130
    kind = "interrupted"

    @classmethod
    def by(cls, interrupt: BaseException, doing: str = "") -> Interrupted:
        """The error for a KeyboardInterrupt: Ctrl-C's, or SIGTERM's (`_child.Terminated`)."""
        from buildbpf._child import Terminated

        terminated = isinstance(interrupt, Terminated)
        error = cls(" ".join(filter(None, ("SIGTERM" if terminated else "interrupted", doing))))
        if terminated:
            error.exit_code = 128 + 15
        return error


def wants_json(argv: Sequence[str]) -> bool:
    """Whether `buildbpf ARGV` prints JSON on stdout, so an error must be JSON there too.

    `build --message-format json` and `--print-plan`; `--json` of config, check and doctor.
    """
    for index, arg in enumerate(argv):
        if arg in ("--json", "--print-plan", "--message-format=json"):
            return True
        if arg == "--message-format" and argv[index + 1 : index + 2] == ["json"]:
            return True
    return False


def error_json(kind: str, message: str, fix: str | None, exit_code: int) -> str:
    """The one JSON object a JSON mode prints on stdout instead of its output when it fails."""
    import json  # not at the top: the replay path imports this module only to fail

    error = {"kind": kind, "message": message, "fix": fix, "exit_code": exit_code}
    return json.dumps({"error": error}, indent=2)


def render(error: BuildbpfError, *, as_json: bool = False) -> int:
    """Print `error` as `buildbpf: <kind>: <message>` and its fix on stderr; its exit code.

    With `as_json` (a JSON mode, see `wants_json`) stdout also gets `{"error": {...}}`, so
    `buildbpf ... --json | jq` sees what went wrong.
    """
    print(f"buildbpf: {error.kind}: {error.message}", file=sys.stderr)
    if error.fix:
        print(f"buildbpf: fix: {error.fix}", file=sys.stderr)
    if as_json:
        print(error_json(error.kind, error.message, error.fix, error.exit_code), flush=True)
    return error.exit_code
