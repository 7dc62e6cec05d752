"""Reading only regular files, with a cap; writing atomically and saying what failed (issue #11)."""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildbpf import _fs
from buildbpf.errors import ConfigError, FileSystemError


@pytest.fixture(autouse=True)
def _no_hang() -> Iterator[None]:
    """A read that blocks (a FIFO) fails the test instead of hanging the suite."""

    def timeout(signum: int, frame: object) -> None:
        raise TimeoutError("the read blocked")

    previous = signal.signal(signal.SIGALRM, timeout)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, previous)


def test_a_regular_file_and_a_link_to_one_are_read(tmp_path: Path) -> None:
    (tmp_path / "a").write_bytes(b"x = 1\r\n")
    (tmp_path / "link").symlink_to(tmp_path / "a")
    assert _fs.read_regular(tmp_path / "a", limit=10) == b"x = 1\r\n"
    assert _fs.read_text(tmp_path / "link") == "x = 1\r\n"  # line endings untouched


def test_proc_files_are_read_although_their_size_says_zero() -> None:
    assert Path("/proc/self/status").stat().st_size == 0
    assert b"Pid:" in _fs.read_regular(Path("/proc/self/status"), limit=1 << 20)


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (os.mkfifo, "a FIFO"),
        (lambda p: p.mkdir(), "a directory"),
        (lambda p: p.symlink_to("/dev/zero"), "a character device"),
    ],
)
def test_anything_but_a_regular_file_is_refused_without_reading(
    tmp_path: Path, make: object, kind: str
) -> None:
    path = tmp_path / "buildbpf.toml"
    make(path)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=rf"config {path} is {kind}.*, not a regular file") as caught:
        _fs.read_regular(path, limit=100, what="config")
    assert caught.value.fix is not None


def test_a_dangling_link_says_where_it_points(tmp_path: Path) -> None:
    path = tmp_path / "buildbpf.toml"
    path.symlink_to(tmp_path / "elsewhere.toml")
    with pytest.raises(ConfigError, match=r"is a symbolic link to .*elsewhere\.toml, which does not exist"):
        _fs.read_regular(path, limit=100)


def test_a_file_over_the_cap_is_refused_saying_so(tmp_path: Path) -> None:
    path = tmp_path / "big.o"
    with path.open("wb") as stream:
        stream.truncate(_fs.OBJECT_LIMIT + 1)  # sparse: no disk used
    with pytest.raises(ConfigError, match=r"larger than 64 MiB"):
        _fs.read_regular(path, limit=_fs.OBJECT_LIMIT, what="object")
    path.write_bytes(b"\0" * 100)
    assert len(_fs.read_regular(path, limit=100)) == 100  # exactly the cap is fine


def test_text_that_is_not_utf8_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"a = 1\n\xff\n")
    with pytest.raises(ConfigError, match=r"not UTF-8 text \(byte 6 is 0xff\)"):
        _fs.read_text(path)


def test_toml_with_a_bom_and_deep_nesting(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_bytes(b"\xef\xbb\xbfa = 1\n")
    assert _fs.load_toml(path, what="config") == ({"a": 1}, "a = 1\n")
    path.write_text("a = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"nested too deeply"):
        _fs.load_toml(path, what="config")


def test_write_errors_name_path_operation_and_errno(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(FileSystemError, match=rf"cannot create the directory {blocker}/sub: .*\(ENOTDIR\)"):
        _fs.write_atomic(blocker / "sub" / "x", "y")

    target = tmp_path / "out"
    real_fdopen = os.fdopen

    class Full:
        def __init__(self, fd: int, mode: str) -> None:
            self.stream = real_fdopen(fd, mode)

        def __enter__(self) -> Full:
            return self

        def __exit__(self, *exc: object) -> None:
            self.stream.close()

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(_fs.os, "fdopen", Full)
    full = rf"cannot write {target}: No space left on device \(ENOSPC\)"
    with pytest.raises(FileSystemError, match=full) as e:
        _fs.write_atomic(target, "data")
    assert e.value.exit_code == 8 and e.value.fix is not None and "df" in e.value.fix
    assert list(tmp_path.iterdir()) == [blocker]  # no temp file left


def test_optional_writes_fail_quietly(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    with caplog.at_level("DEBUG", logger="buildbpf"):
        assert _fs.write_optional(blocker / "cache" / "x.json", "{}", "the probe cache") is False
    assert "the probe cache not saved" in caplog.text
    assert _fs.write_optional(tmp_path / "cache" / "x.json", "{}", "the probe cache") is True


def test_is_file_never_raises() -> None:
    assert _fs.is_file(Path("/proc/self/status")) is True
    assert _fs.is_file(Path("/nonexistent/x")) is False
    assert _fs.is_file(Path("/proc/self/status/x")) is False  # ENOTDIR
    assert _fs.is_file(Path("a\0b")) is False  # ValueError
