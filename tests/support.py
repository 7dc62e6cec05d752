"""Shared test helpers: in CI (CI=true) a missing requirement fails instead of skipping."""

from __future__ import annotations

import contextlib
import os
import pickle
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

T = TypeVar("T")

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the toolchain or kernel; fail in CI, where skips hide breakage."""
    if IN_CI:
        pytest.fail(f"CI=true and a test requirement is missing: {reason}", pytrace=False)
    pytest.skip(reason)


def as_unprivileged(function: Callable[[], T]) -> T:
    """Run `function` where file permissions apply: as root, in a forked child that became
    `nobody` (root reads any directory, so EACCES cannot happen otherwise); else right here.

    The result (or the exception) comes back pickled; the child never returns into pytest.
    """
    if os.geteuid() != 0:
        return function()
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop privileges, run, report, exit without cleanup handlers
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            outcome: tuple[bool, object] = (True, function())
        except BaseException as exc:
            outcome = (False, exc)
        try:
            payload = pickle.dumps(outcome)
        except Exception as exc:
            payload = pickle.dumps((False, RuntimeError(f"unpicklable outcome: {exc!r}")))
        with os.fdopen(write_end, "wb") as stream:
            stream.write(payload)
        os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as stream:
        payload = stream.read()
    os.waitpid(pid, 0)
    ok, value = pickle.loads(payload)
    if not ok:
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[no-any-return]


@contextlib.contextmanager
def world_readable_tmp() -> Iterator[Path]:
    """A temporary directory anyone can enter (pytest's tmp_path is 0700 and root's)."""
    directory = Path(tempfile.mkdtemp(prefix="buildbpf-test-"))
    directory.chmod(0o755)
    try:
        yield directory
    finally:
        for path in directory.rglob("*"):
            if path.is_dir() and not path.is_symlink():
                path.chmod(0o755)
        shutil.rmtree(directory)
