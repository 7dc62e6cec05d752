"""Domain errors: one class per kind of failure, each with its own exit code.

The CLI catches `BuildbpfError` in one place and prints the cause and the fix;
a Python traceback reaching a user is a bug (`--debug` shows it on purpose).
"""

from __future__ import annotations

import sys


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


class Interrupted(BuildbpfError):
    """The user pressed Ctrl-C."""

    exit_code = 130
    kind = "interrupted"


def render(error: BuildbpfError) -> int:
    """Print `error` as `buildbpf: <kind>: <message>` and its fix on stderr; its exit code."""
    print(f"buildbpf: {error.kind}: {error.message}", file=sys.stderr)
    if error.fix:
        print(f"buildbpf: fix: {error.fix}", file=sys.stderr)
    return error.exit_code
