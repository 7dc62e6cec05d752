"""Write a planned workspace all at once or not at all.

A new directory appears by renaming a complete temporary sibling; into an existing one,
every file is staged beside its target and renamed into place only when all are written.
"""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from pathlib import Path

from buildbpf.errors import FileSystemError
from buildbpf.scaffold.plan import Planned


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Create `path` (it must not exist) holding `data`. Tests replace it to simulate a full disk."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, mode)
    with os.fdopen(fd, "wb") as stream:
        stream.write(data)


def _write_error(exc: OSError, path: Path | str | None) -> FileSystemError:
    where = path or exc.filename  # the file the user asked for, not a temporary name
    name = errno.errorcode.get(exc.errno or 0, "")
    full = exc.errno in (errno.ENOSPC, errno.EDQUOT)
    return FileSystemError(
        f"cannot write {where}: {exc.strerror} ({name}); init wrote nothing and left nothing behind",
        fix="free some space (or quota) and run init again" if full
        else "check the permissions of the destination, or choose another directory",
    )  # fmt: skip


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def _make_parents(directory: Path, created: list[Path]) -> None:
    """mkdir -p that remembers what it created, so a failure can take it back."""
    missing = []
    for parent in (directory, *directory.parents):
        if parent.exists():
            break
        missing.append(parent)
    for parent in reversed(missing):
        parent.mkdir()
        created.append(parent)


def _remove_created(created: list[Path]) -> None:
    for directory in reversed(created):
        with contextlib.suppress(OSError):
            directory.rmdir()


def _write_new_tree(destination: Path, planned: list[Planned]) -> None:
    """A new directory: write everything into a temporary sibling, then rename it into place,
    so the workspace appears whole or not at all (issue #11, item 5)."""
    created: list[Path] = []
    staging: Path | None = None
    current: Path | str | None = None  # the error's own file name while making parents
    try:
        _make_parents(destination.parent, created)
        current = destination
        staging = Path(tempfile.mkdtemp(prefix=f".{destination.name}.init-", dir=destination.parent))
        for item in planned:
            target = staging / item.path.relative_to(destination)
            current = item.path
            _make_parents(target.parent, [])
            _write_file(target, item.text.encode(), 0o644)
        current = destination
        staging.chmod(0o777 & ~_umask())
        staging.rename(destination)
    except OSError as exc:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise _write_error(exc, current) from exc
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        _remove_created(created)
        raise


def _stage(planned: list[Planned], created: list[Path]) -> list[tuple[Path, Path]]:
    """Write every new file (and every backup) as a temporary file beside its target; the
    (temporary, final) pairs, backups before their files. A failure (a full disk) removes
    what was staged and the directories created: the directory is as it was."""
    staged: list[tuple[Path, Path]] = []
    current: Path | None = None
    try:
        for item in planned:
            if not item.writes:
                continue
            current = item.path
            _make_parents(item.path.parent, created)
            if item.backup is not None:
                copy = _temporary_beside(item.backup)
                staged.append((copy, item.backup))
                shutil.copy2(item.path, copy)
            mode = item.path.stat().st_mode & 0o777 if item.path.exists() else 0o644
            temporary = _temporary_beside(item.path)
            staged.append((temporary, item.path))
            _write_file(temporary, item.text.encode(), mode)
    except BaseException as exc:
        for temporary, _ in staged:
            with contextlib.suppress(OSError):
                temporary.unlink()
        _remove_created(created)
        if isinstance(exc, OSError):
            raise _write_error(exc, current) from exc
        raise
    return staged


def _write_into(destination: Path, planned: list[Planned]) -> None:
    """An existing directory: stage every file first; only when all are written are they
    renamed into place."""
    staged = _stage(planned, [])
    # Renames only from here: they need no space. Backups first, so a file is never replaced
    # before its backup exists; the record last, so it never claims a file not yet written.
    for done, (temporary, final) in enumerate(staged):
        try:
            temporary.replace(final)
        except OSError as exc:
            for left, _ in staged[done:]:
                with contextlib.suppress(OSError):
                    left.unlink()
            moved = ", ".join(str(f) for _, f in staged[:done]) or "none"
            raise FileSystemError(
                f"cannot rename {temporary} to {final}: {exc.strerror}; already in place: {moved}",
                fix="check the destination's permissions and run init again",
            ) from exc


def _temporary_beside(path: Path) -> Path:
    """A fresh hidden name in `path`'s directory (never an existing file)."""
    return path.with_name(f".{path.name}.init-{os.urandom(4).hex()}")


def write_workspace(destination: Path, planned: list[Planned]) -> None:
    """Write the planned files: all of them, or (on a failure such as a full disk) none."""
    if not any(item.writes for item in planned):
        return
    if destination.exists() or destination.is_symlink():
        _write_into(destination, planned)
    else:
        _write_new_tree(destination, planned)
