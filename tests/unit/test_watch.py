"""Watch mode: what is watched, which changes count, and the build loop (one build at a time)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildbpf.build import watch


def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    for crate in ("probe", "probe-ebpf"):
        (root / crate / "src" / "nested").mkdir(parents=True)
        (root / crate / "src" / "main.rs").write_text("fn main() {}\n")
        (root / crate / "Cargo.toml").write_text("[package]\n")
    (root / "target" / "release").mkdir(parents=True)
    (root / "Cargo.toml").write_text("[workspace]\n")
    return root


def test_the_watch_set(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    inputs = [
        str(root / "Cargo.toml"), str(root / "buildbpf.toml"),  # missing: counts when it appears
        str(root / "probe" / "Cargo.toml"), "/usr/bin/rustc", str(tmp_path / "elsewhere.toml"),
        str(root / "target" / "x.toml"),
    ]  # fmt: skip
    found = watch.watched(inputs, [root], [root / "probe", root / "probe-ebpf"])
    assert found.trees == (root / "probe" / "src", root / "probe-ebpf" / "src")
    assert found.files == {
        root / "Cargo.toml", root / "buildbpf.toml", root / "probe" / "Cargo.toml",
        root / "probe" / "build.rs", root / "probe-ebpf" / "build.rs",
    }  # fmt: skip
    # one level each: never target/ (cargo's output would be a change of its own)
    assert root in found.directories and root / "probe-ebpf" / "src" / "nested" in found.directories
    assert not any("target" in d.parts for d in found.directories)
    assert found.relevant(root / "probe-ebpf" / "src" / "nested" / "maps.rs")
    assert found.relevant(root / "buildbpf.toml")
    assert not found.relevant(root / "target" / "release" / "probe")
    assert not found.relevant(root / "README.md")


def test_fallback_before_the_workspace_is_known(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    found = watch.fallback(root)
    assert found.relevant(root / "probe" / "src" / "main.rs")
    assert found.relevant(root / "Cargo.toml") and found.relevant(root / "probe-ebpf" / "Cargo.toml")
    assert not any("target" in d.parts for d in found.directories)


def test_a_change_during_a_build_is_seen(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    found = watch.watched([str(root / "Cargo.toml"), str(root)], [root], [root / "probe"])
    os.utime(root, ns=(10**18 + 5, 10**18 + 5))  # a directory: any new entry changes its time
    source = root / "probe" / "src" / "nested" / "x.rs"
    source.write_text("")
    os.utime(source, ns=(10**18, 10**18))
    for path in (root / "Cargo.toml", root / "probe" / "src" / "main.rs"):
        os.utime(path, ns=(1, 1))
    assert found.changed_since(10**18) == source
    assert found.changed_since(10**18 + 1) is None


def test_the_loop_builds_once_per_change_and_stops_on_ctrl_c(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = workspace(tmp_path)
    found = watch.watched([], [root], [root / "probe"])
    events: list[str] = []
    waits = iter([[root / "probe" / "src" / "main.rs"], KeyboardInterrupt()])

    def build() -> watch.Watched:
        events.append("build")
        return found

    def wait(watched: watch.Watched, stop: object = None) -> list[Path]:
        assert watched is found
        events.append("wait")
        step = next(waits)
        if isinstance(step, BaseException):
            raise step
        return step

    monkeypatch.setattr(watch, "wait_for_change", wait)
    lines: list[str] = []
    with pytest.raises(KeyboardInterrupt):
        watch.loop(build, root, lines.append, clock=lambda: 10**19)
    assert events == ["build", "wait", "build", "wait"]  # never two builds without a wait between
    assert lines[1] == f"buildbpf: changed: {root / 'probe' / 'src' / 'main.rs'}"


def test_a_failed_build_keeps_the_last_watch_set(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = workspace(tmp_path)
    seen: list[watch.Watched] = []

    def wait(watched: watch.Watched, stop: object = None) -> list[Path]:
        seen.append(watched)
        return []  # stopped

    monkeypatch.setattr(watch, "wait_for_change", wait)
    watch.loop(lambda: None, root, lambda line: None, clock=lambda: 10**19)
    assert seen[0].relevant(root / "probe-ebpf" / "src" / "main.rs")  # the fallback


def test_a_real_edit_wakes_the_watcher_and_an_unrelated_one_does_not(tmp_path: Path) -> None:
    import threading

    root = workspace(tmp_path)
    found = watch.watched([str(root / "Cargo.toml")], [root], [root / "probe"])
    source = root / "probe" / "src" / "nested" / "lib.rs"

    def edit() -> None:
        (root / "README.md").write_text("not an input\n")
        (root / "target" / "release" / "probe").write_text("cargo's\n")
        source.write_text("// edited\n")

    timer = threading.Timer(0.3, edit)
    timer.start()
    try:
        assert watch.wait_for_change(found) == [source]
    finally:
        timer.cancel()
