"""`buildbpf clean`: what buildbpf itself left for one workspace, found without running anything.

buildbpf's own output is the published objects (`<target-dir>/buildbpf/`, marked by
`output.claim`, with the record of how each was built) and, in its cache, the replay records of
builds run inside the workspace. Shared caches (tool probes, aya-build stand-ins, the verifier
helper) serve every workspace and stay. cargo's output is cargo's: `--all` adds `cargo clean`
(`cargo_clean_calls`), and only on a target dir that cargo made and that holds nothing else.

Nothing is deleted that buildbpf cannot prove it (or cargo) made: a directory holding anything
else is listed and left (PITFALLS #37).
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import stat
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from buildbpf import xdg
from buildbpf._process import Command
from buildbpf.build import output
from buildbpf.errors import ConfigError

log = logging.getLogger("buildbpf")

# CACHEDIR.TAG's first line, as cargo writes it into every target dir it creates
CARGO_TAG = "Signature: 8a477f597d28d172789f06886806bc55"
# top-level names in a target dir that cargo (or a cargo subcommand) writes
_CARGO_FILES = {"CACHEDIR.TAG", ".rustc_info.json", ".rustdoc_fingerprint.json", ".package-cache",
                ".future-incompat-report.json"}  # fmt: skip
# (a profile directory, `debug`, `release` or a custom one, is known by cargo's `.cargo-lock` in it)
_CARGO_DIRS = {"doc", "package", "tmp", "build", "cargo-timings", "criterion", "nextest",
               "llvm-cov-target", "flycheck0", "rust-analyzer"}  # fmt: skip


@dataclass(frozen=True)
class Left:
    """Something `clean` did not remove, and why."""

    path: Path
    why: str


@dataclass(frozen=True)
class Selection:
    """What `clean` removes, as shown (`paths`: an output directory when all of it goes), the
    files and emptied directories behind that (`removals`), and what it leaves (`left`)."""

    paths: tuple[Path, ...]
    removals: tuple[Path, ...] = ()
    left: tuple[Left, ...] = field(default=())

    def remove(self) -> None:
        """Unlink each file and remove each emptied directory; one already gone is fine, and a
        directory that is no longer empty stays (something was added meanwhile)."""
        for path in self.removals:
            try:
                if stat.S_ISDIR(os.lstat(path).st_mode):
                    path.rmdir()
                else:
                    path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                log.warning("left %s: %s", path, exc.strerror or exc)


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


def _foreign_note(survey: output.Survey) -> str:
    names = [str(p.relative_to(survey.root)) for p in survey.foreign[:5] if p != survey.root]
    more = f" and {len(survey.foreign) - 5} more" if len(survey.foreign) > 5 else ""
    if not names:
        return "not a directory buildbpf made"
    if not survey.marked:
        return f"not buildbpf's output directory (no {output.MARKER}; it holds {', '.join(names)}{more})"
    return f"holds what buildbpf did not put there: {', '.join(names)}{more}"


def select(target_dirs: Iterable[Path], roots: Sequence[Path], cache: Path | None = None) -> Selection:
    """buildbpf's published objects under each target dir, and the workspace's replay records."""
    shown: list[Path] = []
    removals: list[Path] = []
    left: list[Left] = []
    for target_dir in dict.fromkeys(target_dirs):
        survey = output.survey(output.root(target_dir))
        going = survey.removable
        if survey.foreign:
            left.append(Left(survey.root, _foreign_note(survey)))
        if not going:
            continue
        removals += going
        shown += [survey.root] if going[-1] == survey.root else [p for p in going if p in survey.ours]
    records = replay_records(roots, cache)
    return Selection((*shown, *records), (*removals, *records), tuple(left))


def home() -> Path | None:
    """The user's home directory, when it can be told."""
    found = Path("~").expanduser() if "HOME" in os.environ else None
    return found


def _refusal(directory: Path, roots: Sequence[Path], home: Path | None) -> str | None:
    """Why `cargo clean` may never touch `directory` (it deletes all of it), or None."""
    real = Path(os.path.realpath(directory))
    if real == Path(real.anchor):
        return "it is the root directory"
    if home is not None and real == Path(os.path.realpath(home)):
        return "it is your home directory"
    for root in roots:
        workspace = Path(os.path.realpath(root))
        if real == workspace:
            return f"it is the workspace {root}"
        if real in workspace.parents:
            return f"it holds the workspace {root}"
    return None


def _is_cargo_tagged(directory: Path) -> bool:
    with contextlib.suppress(OSError), (directory / "CACHEDIR.TAG").open("rb") as stream:
        return stream.read(len(CARGO_TAG)).decode(errors="replace") == CARGO_TAG
    return False


def _cargo_made(entry: Path) -> bool:
    """A top-level entry of a target dir that cargo (or a tool run through it) writes: a
    profile directory (its `.cargo-lock`), a target triple's (profile directories inside).

    Only the top level is looked at: what is inside cargo's own directories is cargo's (a
    target dir holds tens of thousands of files, and `cargo clean` would not ask either)."""
    try:
        mode = os.lstat(entry).st_mode
    except OSError:
        return True  # gone meanwhile
    if stat.S_ISREG(mode):
        return entry.name in _CARGO_FILES
    if not stat.S_ISDIR(mode):
        return False  # a link into somewhere else is the user's
    if entry.name in _CARGO_DIRS or _is_build_dir(entry):
        return True
    if entry.name == output.NAME:
        found = output.survey(entry)
        return found.owned and not found.foreign
    return False


def _is_build_dir(entry: Path) -> bool:
    """A profile directory cargo built in (its `.cargo-lock`), or a target triple's directory
    (cargo's CACHEDIR.TAG in it, or a profile directory it built in)."""
    if (entry / ".cargo-lock").is_file() or _is_cargo_tagged(entry):
        return True
    with contextlib.suppress(OSError):
        return any((child / ".cargo-lock").is_file() for child in entry.iterdir())
    return False


def cargo_target_left(directory: Path) -> Left | None:
    """Why `cargo clean` must leave this target dir alone (it deletes all of it), or None: it
    must hold nothing but what cargo and buildbpf write there, and be cargo's: its CACHEDIR.TAG
    (written when cargo creates the directory), or a profile or target directory of cargo's in
    it (for a target dir that existed before cargo first used it)."""
    if directory.is_symlink():
        return Left(directory, f"it is a symbolic link (to {directory.resolve()}); name that one instead")
    try:
        entries = sorted(directory.iterdir())
    except OSError as exc:
        return Left(directory, f"cannot list it: {exc.strerror or exc}")
    foreign = [e.name for e in entries if not _cargo_made(e)]
    if foreign:
        more = f" and {len(foreign) - 5} more" if len(foreign) > 5 else ""
        return Left(directory, f"it holds what cargo did not make: {', '.join(foreign[:5])}{more}")
    if not _is_cargo_tagged(directory) and not any(_is_build_dir(e) for e in entries):
        return Left(directory, "cargo did not make it (no CACHEDIR.TAG of cargo's, no build of its in it)")
    return None


def cargo_clean_calls(cargo: Path, cargo_env: dict[str, str], places: Sequence[tuple[Path, Path]],
                      *, home: Path | None = None) -> tuple[list[Command], list[Left]]:  # fmt: skip
    """`cargo clean --target-dir DIR` in each (workspace root, its target dir), and the target
    dirs left alone. A target dir that is `/`, the home directory, a workspace or holds one is
    a ConfigError before anything is removed: cargo would delete it whole."""
    roots = [root for root, _ in places]
    for _, target_dir in places:
        if (why := _refusal(target_dir, roots, home)) is not None:
            raise ConfigError(
                f"refusing to run `cargo clean` on the target dir {target_dir}: {why}, and cargo clean "
                "deletes the whole directory",
                fix="name a target dir of its own with --target-dir (or fix CARGO_TARGET_DIR / "
                "build.target-dir); buildbpf clean without --all removes only buildbpf's objects",
            )
    calls: list[Command] = []
    left: list[Left] = []
    for root, target_dir in dict.fromkeys(places):
        if not os.path.lexists(target_dir):
            continue  # nothing to clean
        if (reason := cargo_target_left(target_dir)) is not None:
            left.append(reason)
            continue
        argv = (str(cargo), "clean", "--target-dir", str(target_dir))
        calls.append(Command(argv, root, cargo_env))
    return calls, left
