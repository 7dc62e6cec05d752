"""`buildbpf clean`: what buildbpf itself left for one workspace, found without running anything.

buildbpf's own output is the published objects (`<target-dir>/buildbpf/`, with the record of
how each was built) and, in its cache, the replay records of builds run inside the workspace.
Shared caches (tool probes, aya-build stand-ins, the verifier helper) serve every workspace
and stay. cargo's output is cargo's: `--all` adds `cargo clean` (`cargo_clean_calls`).
"""

from __future__ import annotations

import contextlib
import marshal
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from buildbpf import xdg
from buildbpf._process import Command


@dataclass(frozen=True)
class Selection:
    """What `clean` removes: directories and files, each an absolute path."""

    paths: tuple[Path, ...]

    def remove(self) -> None:
        """Remove them; one that is already gone is fine."""
        for path in self.paths:
            if path.is_dir() and not path.is_symlink():
                shutil.rmtree(path)
            else:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()


def _inside(directory: str, roots: Sequence[Path]) -> bool:
    path = Path(directory)
    return any(path == root or root in path.parents for root in roots)


def replay_records(roots: Sequence[Path], cache: Path | None = None) -> list[Path]:
    """The replay records of builds run in (or below) one of `roots`."""
    directory = (cache if cache is not None else Path(xdg.cache_dir())) / "replay"
    found = []
    for record in sorted(directory.glob("*.marshal")) if directory.is_dir() else ():
        try:
            cwd = marshal.loads(record.read_bytes()).get("cwd")
        except (OSError, ValueError, EOFError, TypeError, AttributeError):
            continue  # another Python's record, or a broken one: not known to be ours
        if isinstance(cwd, str) and _inside(cwd, roots):
            found.append(record)
    return found


def select(target_dirs: Iterable[Path], roots: Sequence[Path], cache: Path | None = None) -> Selection:
    """buildbpf's published objects under each target dir, and the workspace's replay records."""
    published = [d / "buildbpf" for d in dict.fromkeys(target_dirs) if (d / "buildbpf").exists()]
    return Selection((*published, *replay_records(roots, cache)))


def cargo_clean_calls(cargo: Path, cargo_env: dict[str, str], roots: Sequence[Path],
                      target_dir: Path | None) -> list[Command]:  # fmt: skip
    """`cargo clean` in the workspace and in each outside eBPF crate's own workspace
    (`--target-dir` only for the workspace: outside crates build into their own)."""
    calls = []
    for number, root in enumerate(dict.fromkeys(roots)):
        argv = [str(cargo), "clean"]
        if target_dir is not None and number == 0:
            argv += ["--target-dir", str(target_dir)]
        calls.append(Command(tuple(argv), root, cargo_env))
    return calls
