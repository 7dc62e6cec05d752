"""The kernel cache keeps only what is whole: package lists apt really fetched, and images that
still have the sha256 recorded when they were downloaded (issue #20, items 4 and 5)."""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Sequence
from pathlib import Path

import pytest

from buildbpf import _process
from buildbpf.errors import KernelCheckError
from buildbpf.kernels import catalog, fetch, lock

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


# --- images checked against the sha256 recorded when they were fetched ----------------------


def cached_kernel(base: Path, vmlinuz: bytes = b"MZ a kernel image" * 1000) -> Path:
    entry = base / "images" / RELEASE
    entry.mkdir(parents=True)
    (entry / "vmlinuz").write_bytes(vmlinuz)
    (entry / "config").write_text("\n".join(fetch.REQUIRED_CONFIG) + "\n")
    sha = hashlib.sha256(vmlinuz).hexdigest()
    meta = {
        "name": RELEASE,
        "series": "6.1",
        "vmlinuz": "vmlinuz",
        "config": "config",
        "packages": [],
        "sha256": sha,
    }
    (entry / "kernel.json").write_text(json.dumps(meta))
    return entry


DAMAGE = {
    "corrupted": lambda data: data[:100] + b"\xff" + data[101:],
    "truncated": lambda data: data[: len(data) // 2],
    "empty": lambda data: b"",
}


@pytest.mark.parametrize("damage", DAMAGE)
def test_a_damaged_image_is_dropped_refetched_and_named(
    tmp_path: Path,
    apt: FakeApt,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    damage: str,
) -> None:
    entry = cached_kernel(tmp_path)
    good = fetch.load_cached(entry)
    assert good is not None and good.name == RELEASE
    vmlinuz = entry / "vmlinuz"
    vmlinuz.write_bytes(DAMAGE[damage](vmlinuz.read_bytes()))
    fetched: list[str] = []

    def download(base: Path, image: str, release: str, pinned: list[str] | None = None) -> fetch.Kernel:
        fetched.append(image)
        return fetch.Kernel(release, "6.1", base / "images" / release / "vmlinuz", None)

    monkeypatch.setattr(fetch, "download", download)
    apt.online = True
    kernel = fetch.resolve("6.1", tmp_path, use_lock=False)
    assert fetched == [IMAGE] and kernel.name == RELEASE
    assert not entry.exists()
    said = capsys.readouterr().err
    assert f"the cached kernel {RELEASE} is damaged ({vmlinuz}: sha256 " in said
    assert "removing it, to be fetched again" in said
    assert not list((tmp_path / "images").iterdir())  # nothing left aside


def test_a_damaged_image_is_no_offline_answer(tmp_path: Path, apt: FakeApt) -> None:
    entry = cached_kernel(tmp_path)
    (entry / "vmlinuz").write_bytes(b"")
    with pytest.raises(fetch.FetchError, match="could not fetch Debian's package lists"):
        fetch.resolve("6.1", tmp_path, use_lock=False)
    assert fetch.cached(tmp_path) == []


def test_a_damaged_locked_image_is_fetched_again(
    tmp_path: Path, apt: FakeApt, monkeypatch: pytest.MonkeyPatch
) -> None:
    entry = cached_kernel(tmp_path)
    sha = json.loads((entry / "kernel.json").read_text())["sha256"]
    (entry / "vmlinuz").write_bytes(b"truncated")
    pinned: list[list[str] | None] = []

    def download(base: Path, image: str, release: str, packages: list[str] | None = None) -> fetch.Kernel:
        pinned.append(packages)
        return fetch.Kernel(release, "6.1", base / "images" / release / "vmlinuz", None, [], sha)

    monkeypatch.setattr(fetch, "download", download)
    apt.online = True
    locked = {"release": RELEASE, "vmlinuz_sha256": sha, "packages": [{"name": IMAGE, "version": "6.1.1-1"}]}
    assert lock.fetch_locked(tmp_path, "6.1", locked).sha256 == sha
    assert pinned == [[f"{IMAGE}=6.1.1-1"]]


def test_offline_a_whole_cached_kernel_answers_and_says_why(
    tmp_path: Path, apt: FakeApt, capsys: pytest.CaptureFixture[str]
) -> None:
    cached_kernel(tmp_path)
    assert fetch.resolve("6.1", tmp_path, use_lock=False).name == RELEASE
    said = capsys.readouterr().err
    assert "could not fetch Debian's package lists: http://127.0.0.1:9/" in said
    assert said.rstrip().endswith(f"6.1: using the cached Linux {RELEASE}")


def test_a_release_that_is_a_path_is_refused_before_anything_is_removed(tmp_path: Path) -> None:
    """A hand-edited lock file naming `../..` or an absolute path: the cache entry is replaced
    and removed by its path, so such a name must never become one."""
    from buildbpf.errors import ConfigError

    victim = tmp_path / "project"
    victim.mkdir()
    (victim / "kernel.json").write_text('{"name": "x", "sha256": "00"}')  # would look damaged
    (victim / "vmlinuz").write_bytes(b"mine")
    base = tmp_path / "cache"
    for release in (str(victim), "../../project", "6.1/../../project", ""):
        with pytest.raises(ConfigError, match="is not a kernel release"):
            lock.fetch_locked(base, "6.1", {"release": release, "vmlinuz_sha256": "00", "packages": []})
    assert (victim / "vmlinuz").read_bytes() == b"mine"
    assert fetch.entry(base, "6.12.118+deb13") == base / "images" / "6.12.118+deb13"
