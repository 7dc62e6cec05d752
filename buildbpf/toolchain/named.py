"""Programs the user named (`BUILDBPF_RUSTC`, `BUILDBPF_CARGO`, `BUILDBPF_BPF_LINKER`, or an
option): used as given or refused with the reason, never replaced by another one."""

from __future__ import annotations

from pathlib import Path

from buildbpf._fs import exists, is_dir, is_executable, is_file
from buildbpf.errors import NamedToolError

RUSTC_VARIABLE = "BUILDBPF_RUSTC"
CARGO_VARIABLE = "BUILDBPF_CARGO"
LINKER_VARIABLE = "BUILDBPF_BPF_LINKER"


def why_unusable(path: Path) -> str | None:
    """Why `path` cannot be run as a program (`does not exist`, `is not executable`, ...), or None."""
    if not exists(path):
        return "does not exist"
    if is_dir(path):
        return "is a directory, not a program"
    if not is_file(path):
        try:
            path.stat()
        except OSError as exc:  # a dangling link, or a directory on the way this user cannot search
            return f"cannot be looked at ({exc.strerror})"
        return "is not a regular file"
    if not is_executable(path):
        return f"is not executable (mode {path.stat().st_mode & 0o7777:04o})"
    return None


def named_tool(origin: str, raw: str, what: str) -> Path:
    """The program a user named (`origin` is the variable or option): its path as given, or a
    NamedToolError that names `origin`, the path and why it cannot be used."""
    path = Path(raw)
    if (why := why_unusable(path)) is not None:
        raise NamedToolError(
            f"{origin}={raw} {why}; buildbpf uses the {what} you name or stops, never another one",
            fix=f"point {origin} at an executable {what}, or unset it to let buildbpf look for one",
        )
    return path
