"""Shared test helpers: in CI (CI=true) a missing requirement fails instead of skipping."""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import fcntl
import os
import pickle
import shutil
import struct
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


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)


def require_root(what: str) -> None:
    """Skip (fail in CI) unless root: mounts and the immutable flag need it."""
    if os.geteuid() != 0:
        skip_or_fail(f"{what} needs root")


@contextlib.contextmanager
def tmpfs(directory: Path, *, size: str = "64k") -> Iterator[Path]:
    """A small tmpfs mounted on `directory` (mount(2), no process): a full disk at `size`, or
    read-only (EROFS) with `remount_read_only` once it holds what the test needs."""
    require_root("mounting a tmpfs")
    libc = _libc()
    directory.mkdir(parents=True, exist_ok=True)
    if libc.mount(b"tmpfs", os.fsencode(directory), b"tmpfs", 0, f"size={size}".encode()) != 0:
        skip_or_fail(f"cannot mount a tmpfs: {os.strerror(ctypes.get_errno())}")
    try:
        yield directory
    finally:
        libc.umount2(os.fsencode(directory), 2)  # MNT_DETACH: never leave a mount behind


def remount_read_only(directory: Path) -> None:
    """Make the tmpfs mounted on `directory` read-only (EROFS for every write)."""
    ms_rdonly, ms_remount = 1, 32
    if _libc().mount(b"tmpfs", os.fsencode(directory), b"tmpfs", ms_remount | ms_rdonly, None) != 0:
        raise OSError(ctypes.get_errno(), "remount read-only failed", str(directory))


@contextlib.contextmanager
def immutable(path: Path) -> Iterator[Path]:
    """`chattr +i path` by ioctl (no process): not even root may change, replace or remove it."""
    require_root("the immutable flag")
    get_flags, set_flags, immutable_fl = 0x80086601, 0x40086602, 0x10
    fd = os.open(path, os.O_RDONLY)
    try:
        flags = struct.unpack("l", fcntl.ioctl(fd, get_flags, struct.pack("l", 0)))[0]
        try:
            fcntl.ioctl(fd, set_flags, struct.pack("l", flags | immutable_fl))
        except OSError as exc:
            skip_or_fail(f"the file system of {path} has no immutable flag: {exc}")
        try:
            yield path
        finally:
            fcntl.ioctl(fd, set_flags, struct.pack("l", flags))
    finally:
        os.close(fd)
