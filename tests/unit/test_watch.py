"""Watch mode: what is watched, which changes count, and the build loop (one build at a time)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
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


def aged(root: Path) -> Path:
    """`root` with every file last modified long ago (before any build a test starts)."""
    for path in root.rglob("*"):
        os.utime(path, ns=(10**9, 10**9))
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

    def wait(watched: watch.Watched, stop: object = None, since: object = None,
             ready: Callable[[], None] | None = None) -> list[Path]:  # fmt: skip
        assert watched is found and ready is not None
        ready()
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

    def wait(watched: watch.Watched, *_: object, **__: object) -> list[Path]:
        seen.append(watched)
        return []  # stopped

    monkeypatch.setattr(watch, "wait_for_change", wait)
    watch.loop(lambda: None, root, lambda line: None, clock=lambda: 10**19)
    assert seen[0].relevant(root / "probe-ebpf" / "src" / "main.rs")  # the fallback


def test_a_real_edit_wakes_the_watcher_and_an_unrelated_one_does_not(tmp_path: Path) -> None:


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


def _stopped_after(seconds: float) -> threading.Event:
    """An event set after `seconds`: a watcher that missed the change returns [] then, not never."""
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


def test_an_edit_right_after_the_watching_line_is_seen(tmp_path: Path) -> None:
    # a user who saves within milliseconds of "watching ...": the line comes once the watches
    # are up (it came before, and such an edit was never seen)
    root = aged(workspace(tmp_path))
    source = root / "probe" / "src" / "main.rs"
    lines: list[str] = []
    stop = _stopped_after(8)

    def build() -> watch.Watched:
        return watch.watched([], [root], [root / "probe"])

    def notice(line: str) -> None:
        lines.append(line)
        if line.startswith("buildbpf: watching") and len(lines) == 1:
            source.write_text("// saved at once\n")
        elif line.startswith("buildbpf: changed"):
            stop.set()

    watch.loop(build, root, notice, stop=stop)
    assert lines[1] == f"buildbpf: changed: {source}"


def test_an_edit_before_the_watches_are_up_is_seen(tmp_path: Path) -> None:


    root = aged(workspace(tmp_path))
    found = watch.watched([], [root], [root / "probe"])
    since = time.time_ns() - 20_000_000
    source = root / "probe" / "src" / "nested" / "lib.rs"
    source.write_text("// edited after the build, before the watcher started\n")
    ready: list[bool] = []
    assert watch.wait_for_change(found, _stopped_after(8), since=since, ready=lambda: ready.append(True)) == [
        source
    ]
    assert ready == [True]


def test_a_source_tree_moved_away_and_back_is_watched_again(tmp_path: Path) -> None:
    # as an editor or a git checkout does: the watch on the old src/ is gone, and an edit after
    # it went unseen; now the move is a change (the rebuild watches src/ afresh)
    root = workspace(tmp_path)
    found = watch.watched([], [root], [root / "probe"])
    src = root / "probe" / "src"

    def move() -> None:
        src.rename(tmp_path / "s.x")
        (tmp_path / "s.x").rename(src)
        time.sleep(2.5)  # once the move's events are handled (filtered out, they were)
        (src / "main.rs").write_text("// edited after the move\n")

    timer = threading.Timer(0.3, move)
    timer.daemon = True
    timer.start()
    try:
        assert src in watch.wait_for_change(found, _stopped_after(8))
    finally:
        timer.cancel()


def test_a_replaced_directory_is_seen_without_an_event(tmp_path: Path) -> None:
    root = workspace(tmp_path)
    found = watch.watched([], [root], [root / "probe"])
    before = found.identities()
    nested = root / "probe" / "src" / "nested"
    assert found.replaced(before) == []
    nested.rename(tmp_path / "old")  # kept: the new directory cannot reuse its inode
    nested.mkdir()
    assert found.replaced(before) == [nested]
    nested.rmdir()
    assert found.replaced(before) == [nested]
