"""The kernel cache keeps only what is whole: package lists apt really fetched, and images that
still have the sha256 recorded when they were downloaded (issue #20, items 4 and 5)."""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from buildbpf import _process
from buildbpf.errors import KernelCheckError
from buildbpf.kernels import catalog, fetch

OFFLINE_STDERR = (
    "W: Failed to fetch http://127.0.0.1:9/debian/dists/sid/InRelease  Could not connect to 127.0.0.1:9 "
    "(127.0.0.1). - connect (111: Connection refused)\n"
    "W: Some index files failed to download. They have been ignored, or old ones used instead.\n"
)
RELEASE = "6.1.0-57"
IMAGE = f"linux-image-{RELEASE}-cloud-amd64"


class FakeApt:
    """apt-get/apt-cache as the private configuration sees them; `online` decides whether
    `apt-get update` reaches the servers (offline it exits 0 all the same)."""

    def __init__(self, base: Path, *, online: bool) -> None:
        self.lists = base / "apt" / "lists"
        self.online = online
        self.calls: list[str] = []

    def __call__(self, argv: Sequence[str | os.PathLike[str]], **_: object) -> _process.Completed:
        words = [os.fspath(a) for a in argv]
        self.calls.append(" ".join(words[:2]))
        command = _process.Command(tuple(words))
        if words[:2] == ["apt-get", "update"]:
            if not self.online:
                return _process.Completed(
                    command, 0, "Err:1 http://127.0.0.1:9/debian sid InRelease\n", OFFLINE_STDERR
                )
            for uri, suite in catalog.SOURCES:
                host = uri.split("://", 1)[1].replace("/", "_")
                (self.lists / f"{host}_dists_{suite}_main_binary-amd64_Packages.lz4").write_bytes(b"x")
            return _process.Completed(command, 0, "Hit:1 ...\nReading package lists...\n", "")
        if words[:2] == ["apt-cache", "pkgnames"]:
            whole = fetch.lists_complete(self.lists)
            return _process.Completed(command, 0, f"{IMAGE}\n" if whole else "", "")
        raise AssertionError(f"unexpected apt call: {words}")


@pytest.fixture
def apt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> FakeApt:
    fake = FakeApt(tmp_path, online=False)
    fetch.apt_env(tmp_path)
    monkeypatch.setattr(fetch, "run", fake)
    monkeypatch.setattr(fetch.shutil, "which", lambda name: f"/usr/bin/{name}")
    return fake


def test_offline_update_is_exit_9_and_stamps_nothing(tmp_path: Path, apt: FakeApt) -> None:
    with pytest.raises(fetch.FetchError) as caught:
        fetch.update_lists(tmp_path)
    assert caught.value.exit_code == 9
    assert caught.value.message.startswith("could not fetch Debian's package lists: http://127.0.0.1:9/")
    assert "Connection refused" in caught.value.message
    assert not (apt.lists / fetch.STAMP).exists()
    apt.online = True  # back online: fetched at once, not a day later
    fetch.update_lists(tmp_path)
    assert apt.calls == ["apt-get update", "apt-get update"]
    assert (apt.lists / fetch.STAMP).is_file()
    fetch.update_lists(tmp_path)  # now fresh and whole: not fetched again
    assert apt.calls == ["apt-get update", "apt-get update"]


def test_offline_resolve_says_the_lists_are_missing_not_that_debian_lacks_the_kernel(
    tmp_path: Path, apt: FakeApt
) -> None:
    with pytest.raises(KernelCheckError) as caught:
        fetch.resolve("6.1", tmp_path, use_lock=False)
    assert "could not fetch Debian's package lists" in caught.value.message
    assert caught.value.exit_code == 9


def test_a_fresh_stamp_on_empty_lists_is_not_trusted(tmp_path: Path, apt: FakeApt) -> None:
    """A cache poisoned before this fix (stamped, no index) is fetched again."""
    (apt.lists / fetch.STAMP).touch()
    (apt.lists / "InRelease").touch()  # the old stamp
    apt.online = True
    fetch.update_lists(tmp_path)
    assert apt.calls == ["apt-get update"]


def test_whole_old_lists_are_used_but_not_stamped_fresh(
    tmp_path: Path, apt: FakeApt, capsys: pytest.CaptureFixture[str]
) -> None:
    apt.online = True
    fetch.update_lists(tmp_path)
    old = time.time() - 2 * fetch.LISTS_MAX_AGE
    os.utime(apt.lists / fetch.STAMP, (old, old))
    apt.online = False
    fetch.update_lists(tmp_path)  # no exception: the lists of yesterday still name the kernels
    assert "could not refresh Debian's package lists (http://127.0.0.1:9/" in capsys.readouterr().err
    assert (apt.lists / fetch.STAMP).stat().st_mtime == old


def test_update_failure_reads_apt_s_warnings() -> None:
    assert catalog.update_failure("Hit:1 http://x sid InRelease\nReading package lists...\n") is None
    assert catalog.update_failure(OFFLINE_STDERR) == (
        "http://127.0.0.1:9/debian/dists/sid/InRelease: Could not connect to 127.0.0.1:9 (127.0.0.1). - "
        "connect (111: Connection refused)"
    )
    assert (
        catalog.update_failure("E: Release file for x is not valid yet\n")
        == "Release file for x is not valid yet"
    )
