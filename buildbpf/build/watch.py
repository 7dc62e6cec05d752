"""Watch mode (`buildbpf build --watch`, `buildbpf watch`): build, wait for a change to the
workspace's inputs, build again; one build at a time, Ctrl-C ends it.

What is watched comes from the last build: the files its plan came from (the replay record's
input list, `record.replay_inputs`: manifests, `Cargo.lock`, `buildbpf.toml`, cargo configs,
toolchain files) inside the workspace, and every crate's `src/` and `build.rs`. Directories
are watched one level deep (never `target/`): an editor that saves by renaming is seen, and a
new `src/` subdirectory is watched after the next build. Changes are debounced by watchfiles
(a burst of saves is one rebuild), and a change made while a build runs (the watcher is not
running then) is caught by comparing modification times when the build ends, and again once
the watches are up. An inotify watch stays with the directory it was put on: a watched
directory replaced (`src/` moved away and back) is a change, so that the rebuild watches anew.
"""

from __future__ import annotations

import functools
import logging
import os
import stat
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger("buildbpf")

DEBOUNCE_MS = 1600  # the longest a burst of changes is gathered
QUIET_MS = 300  # a burst ends after this long without a change
POLL_MS = 500  # how often the watched directories are checked to be the ones watched
_SKIP_DIRS = frozenset({"target", ".git", "node_modules", "__pycache__"})


@dataclass(frozen=True)
class Watched:
    """What the next change is looked for in: directories (one level each) and the files
    and trees (`src/`) that count."""

    directories: tuple[Path, ...]
    files: frozenset[Path]
    trees: tuple[Path, ...]

    def relevant(self, path: Path) -> bool:
        """Whether a change to `path` calls for a rebuild: also a watched directory itself moved
        away or back, deleted or created (`git checkout`, `mv src ../s; mv ../s src`), after
        which its watch is gone; the rebuild watches it afresh."""
        if path in self.files or path in self.directories or path in self.trees:
            return True
        return any(tree in path.parents for tree in self.trees)

    def identities(self) -> dict[Path, tuple[int, int] | None]:
        """Each watched directory's (device, inode), None when it is missing."""
        found: dict[Path, tuple[int, int] | None] = {}
        for directory in self.directories:
            try:
                info = directory.stat()
            except OSError:
                found[directory] = None
            else:
                found[directory] = (info.st_dev, info.st_ino)
        return found

    def replaced(self, before: dict[Path, tuple[int, int] | None]) -> list[Path]:
        """The watched directories that are not the ones `before` saw (an inotify watch stays
        with the directory it was put on, wherever that went)."""
        now = self.identities()
        return [d for d in self.directories if now.get(d) != before.get(d)]

    def changed_since(self, started_ns: int) -> Path | None:
        """A watched file modified since `started_ns` (during a build), if any."""
        candidates: Iterable[Path] = (*self.files, *(p for t in self.trees for p in _walk_files(t)))
        for path in candidates:
            try:
                found = path.stat()
            except OSError:
                continue
            # a directory's time changes with any entry (an editor's swap file, target/)
            if found.st_mtime_ns >= started_ns and not stat.S_ISDIR(found.st_mode):
                return path
        return None


def _walk_dirs(tree: Path) -> list[Path]:
    found = []
    for directory, subdirs, _ in os.walk(tree):
        subdirs[:] = [d for d in subdirs if d not in _SKIP_DIRS and not d.startswith(".")]
        found.append(Path(directory))
    return found


def _walk_files(tree: Path) -> list[Path]:
    return [Path(d) / f for d, subdirs, files in os.walk(tree) for f in files
            if not any(s in _SKIP_DIRS for s in Path(d).parts)]  # fmt: skip


def watched(inputs: Iterable[str], roots: Iterable[Path], crate_dirs: Iterable[Path]) -> Watched:
    """The watch set: the inputs inside `roots` (the workspace and outside crates' roots),
    and each crate's `src/` tree and `build.rs`."""
    roots = tuple(dict.fromkeys(roots))
    crate_dirs = tuple(dict.fromkeys(crate_dirs))

    def inside(path: Path) -> bool:
        return any(path == r or r in path.parents for r in roots) and not _SKIP_DIRS & set(path.parts)

    files = {Path(p) for p in inputs if inside(Path(p))}
    files |= {d / "build.rs" for d in crate_dirs}
    trees = tuple(d / "src" for d in crate_dirs if (d / "src").is_dir())
    directories = {f.parent for f in files if f.parent.is_dir()}
    for tree in trees:
        directories.update(_walk_dirs(tree))
    return Watched(tuple(sorted(directories)), frozenset(files), trees)


def fallback(cwd: Path) -> Watched:
    """What to watch before any build succeeded far enough to know the workspace: the
    directory's manifests and config, and the `src/` of it and its subdirectories."""
    crate_dirs = [cwd, *(d for d in sorted(cwd.iterdir()) if d.is_dir() and d.name not in _SKIP_DIRS)]
    names = ("Cargo.toml", "Cargo.lock", "buildbpf.toml", "rust-toolchain.toml", "rust-toolchain")
    inputs = [str(d / n) for d in crate_dirs for n in names] + [str(cwd / ".cargo" / "config.toml")]
    return watched(inputs, [cwd], crate_dirs)


def wait_for_change(watch: Watched, stop: threading.Event | None = None, since: int | None = None,
                    ready: Callable[[], None] | None = None) -> list[Path]:  # fmt: skip
    """Block until a relevant change (debounced); the changed paths. KeyboardInterrupt on Ctrl-C.

    `ready` is called once the watches are in place; a change made between `since` (ns) and
    then, which they could not see, counts as seen. Every POLL_MS the watched directories are
    checked to be the ones watched: one replaced without an event counts too.
    """
    import watchfiles  # only in watch mode: startup stays lean

    watching = watch.identities()  # before the watches exist: a replacement in between counts
    directories = [str(d) for d in watch.directories if d.is_dir()]
    first = True
    for changes in watchfiles.watch(*directories, watch_filter=None, debounce=DEBOUNCE_MS, step=QUIET_MS,
                                    rust_timeout=POLL_MS, yield_on_timeout=True, recursive=False,
                                    stop_event=stop, raise_interrupt=True):  # fmt: skip
        found = sorted({Path(p) for _, p in changes if watch.relevant(Path(p))})
        if first:  # the first answer: the watches are up
            first = False
            if ready is not None:
                ready()
            if not found and since is not None and (missed := watch.changed_since(since)) is not None:
                found = [missed]
        if found := found or watch.replaced(watching):
            return found
    return []  # stopped by `stop`


def loop(build: Callable[[], Watched | None], cwd: Path, notice: Callable[[str], None],
         clock: Callable[[], int] | None = None, stop: threading.Event | None = None) -> None:  # fmt: skip
    """Build, then rebuild after every relevant change, until Ctrl-C (KeyboardInterrupt).

    `build` runs one build and returns what to watch next (None when the build failed before
    it knew the workspace); it reports its own errors.
    """
    import time

    now = clock or time.time_ns
    watch = fallback(cwd)
    while True:
        started = now() - 20_000_000  # file times come from a coarse clock, up to a tick behind
        watch = build() or watch
        if (during := watch.changed_since(started)) is not None:
            notice(f"buildbpf: {during} changed during the build: building again")
            continue
        # said once the watches are up, so that an edit after the line is never missed
        counts = f"{len(watch.files)} files and {len(watch.trees)} source trees"
        line = f"buildbpf: watching {counts}; Ctrl-C stops"
        changed = wait_for_change(watch, stop, since=started, ready=functools.partial(notice, line))
        if not changed:
            return
        shown = ", ".join(str(p) for p in changed[:3]) + (
            f" and {len(changed) - 3} more" if len(changed) > 3 else ""
        )
        notice(f"buildbpf: changed: {shown}")
