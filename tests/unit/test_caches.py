"""Every cache is optional: a read-only, full or missing cache directory costs time, never a
build (issue #11). Each case: the cache on a regular file (ENOTDIR), on a read-only tmpfs
(EROFS) and on a full one (ENOSPC)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from buildbpf import _fs
from buildbpf.build import aya_build, record, replay
from buildbpf.kernels import guest
from buildbpf.objects import verifier
from buildbpf.toolchain import Toolchain
from buildbpf.toolchain.linker import BpfLinker
from buildbpf.toolchain.probe_cache import cached_probe
from buildbpf.toolchain.rust import Mode, RustToolchain
from buildbpf.toolchain.versions import Version, parse_rustc_vv
from tests.support import remount_read_only, tmpfs

DATA = Path(__file__).parent / "data"


@contextlib.contextmanager
def broken_cache(tmp_path: Path, how: str) -> Iterator[Path]:
    cache = tmp_path / "cache"
    if how == "a file":
        cache.write_text("not a directory")
        yield cache
        return
    with tmpfs(cache, size="4k"):
        if how == "read-only":
            remount_read_only(cache)
        else:
            (cache / "filler").write_bytes(b"x" * 4096)
        yield cache


HOW = ["a file", "read-only", "full"]


@pytest.mark.parametrize("how", HOW)
def test_a_replay_record_that_cannot_be_saved_is_a_debug_line(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    (tmp_path / "Cargo.toml").write_text("")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(replay.DISABLE, raising=False)
    with broken_cache(tmp_path, how) as cache:
        monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(cache / "buildbpf"))
        recorder = record.begin(["build"])
        assert recorder is not None
        with caplog.at_level(logging.DEBUG, logger="buildbpf"):
            assert recorder.save(inputs=[], calls=[], prelude=[], stdout="verified x\n") is False
        recorder.close()
    assert "the replay record not saved" in caplog.text
    assert not [r for r in caplog.records if r.levelno > logging.DEBUG]


@pytest.mark.parametrize("how", HOW)
def test_the_probe_cache_is_optional(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    tool = tmp_path / "rustc"
    tool.write_text("")
    with broken_cache(tmp_path, how) as cache:
        monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(cache / "buildbpf"))
        with caplog.at_level(logging.DEBUG, logger="buildbpf"):
            assert cached_probe(tool, "kind", lambda: {"answer": "42"}) == {"answer": "42"}
    assert "the probe cache not saved" in caplog.text


def toolchain(tmp_path: Path) -> Toolchain:
    info = parse_rustc_vv((DATA / "rustc-vV-debian.txt").read_text())
    rust = RustToolchain("PATH", Mode.BOOTSTRAP, tmp_path / "cargo", tmp_path / "rustc", tmp_path, info)
    return Toolchain(rust, BpfLinker(tmp_path / "bpf-linker", "PATH", Version(0, 10), Version(22)))


@pytest.mark.parametrize("how", HOW)
def test_aya_build_shims_without_a_cache_live_in_a_scratch_directory(
    tmp_path: Path, how: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_fs, "_scratch", [])
    with broken_cache(tmp_path, how) as cache:
        monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(cache / "buildbpf"))
        shims = aya_build.aya_build_shims(toolchain(tmp_path))
        assert not shims.is_relative_to(cache)
        assert (shims / "cargo").read_text().startswith("#!/bin/sh")
        assert (shims / "rustc").readlink() == tmp_path / "rustc"
        assert aya_build.aya_build_shims(toolchain(tmp_path)) == shims  # one scratch dir per run


def test_a_usable_cache_is_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    assert _fs.usable_cache("loader", "abc") == tmp_path / "cache" / "loader" / "abc"
    assert aya_build.aya_build_shims(toolchain(tmp_path)).is_relative_to(tmp_path / "cache")


# --- the verifier helpers: a complete read-only cache is used as it is (issue #20, item 12) ---


class FakeCargo:
    """`cargo build` of a helper: writes the binary where CARGO_TARGET_DIR says, counts builds."""

    def __init__(self, built: str) -> None:
        self.built = built
        self.builds: list[Path] = []

    def __call__(self, argv: object, *, env_set: dict[str, str], **_: object) -> None:
        binary = Path(env_set["CARGO_TARGET_DIR"]) / self.built
        binary.parent.mkdir(parents=True, exist_ok=True)
        binary.write_text("#!/bin/sh\n")
        binary.chmod(0o755)
        self.builds.append(binary)


HELPERS = {
    "host": (verifier, "loader_binary", "release/buildbpf-loader"),
    "static": (guest, "static_helper", f"{guest.TARGET}/release/buildbpf-loader"),
}


@pytest.mark.parametrize("which", HELPERS)
def test_a_complete_read_only_helper_cache_is_used_as_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, which: str
) -> None:
    module, build, built = HELPERS[which]
    cargo = FakeCargo(built)
    monkeypatch.setattr(module, "run", cargo)
    monkeypatch.setattr(_fs, "_scratch", [])
    with tmpfs(tmp_path / "cache", size="1m") as cache:
        monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(cache / "buildbpf"))
        first = getattr(module, build)(toolchain(tmp_path).rust)
        assert first.is_relative_to(cache)
        remount_read_only(cache)
        with caplog.at_level(logging.DEBUG, logger="buildbpf"):
            assert getattr(module, build)(toolchain(tmp_path).rust) == first
    assert cargo.builds == [first]  # built once, not again in a scratch directory every run
    assert "cannot be written" not in caplog.text


@pytest.mark.parametrize("which", HELPERS)
def test_an_incomplete_read_only_helper_cache_says_so_in_one_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, which: str
) -> None:
    module, build, built = HELPERS[which]
    cargo = FakeCargo(built)
    monkeypatch.setattr(module, "run", cargo)
    monkeypatch.setattr(_fs, "_scratch", [])
    with broken_cache(tmp_path, "read-only") as cache:
        monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(cache / "buildbpf"))
        with caplog.at_level(logging.INFO, logger="buildbpf"):
            binary = getattr(module, build)(toolchain(tmp_path).rust)
    assert not binary.is_relative_to(cache) and cargo.builds == [binary]
    [said] = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said.startswith(f"the cache {cache / 'buildbpf' / 'loader'}/")
    assert "cannot be written (Read-only file system): the " in said
    assert said.endswith("verifier helper is built in a temporary directory, for this run only")
