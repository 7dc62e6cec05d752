"""buildbpf's output directory in a target dir, `<target-dir>/buildbpf`: marked when buildbpf
makes it, recognised entry by entry before anything in it is replaced or removed.

A folder of the user's can have that name (a clone of this project is called `buildbpf`, and
`--target-dir ~` puts it there): buildbpf neither publishes into it nor cleans it. Only what
buildbpf can prove it made is ever deleted (PITFALLS #37).
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass
from pathlib import Path

from buildbpf import _fs
from buildbpf.errors import ConfigError, FileSystemError

NAME = "buildbpf"
MARKER = ".buildbpf-output"  # in the output directory: buildbpf made it
MARKER_TEXT = (
    "This directory holds eBPF objects that buildbpf built and verified.\n"
    "`buildbpf clean` removes what buildbpf put here, and nothing else.\n"
)
RECORD = ".buildbpf-built.json"  # `layout.BUILT_RECORD`: how each object was built
_TRIPLES = ("bpfel-unknown-none", "bpfeb-unknown-none")
_EM_BPF = 247


def root(target_dir: Path) -> Path:
    """The output directory of one target dir."""
    return target_dir / NAME


@dataclass(frozen=True)
class Survey:
    """What one output directory holds: buildbpf's files, and entries it did not make."""

    root: Path
    marked: bool
    ours: tuple[Path, ...]  # files buildbpf made (objects, records, the marker)
    foreign: tuple[Path, ...]  # anything else: listed, never removed
    subdirs: tuple[Path, ...] = ()  # the byte-order directories buildbpf publishes into

    @property
    def owned(self) -> bool:
        """Whether buildbpf may publish here: its marker is there, or it is a directory with
        nothing but buildbpf's files in it (made by a buildbpf from before the marker)."""
        return self.marked or (not self.foreign and _fs.is_dir(self.root))

    @property
    def removable(self) -> tuple[Path, ...]:
        """What `clean` deletes: buildbpf's files, then the directories that empties, deepest
        first; nothing of an output directory that is not buildbpf's, or never had its files."""
        if not self.owned or not (self.marked or self.ours):
            return ()
        emptied = [d for d in self.subdirs if not any(f.parent == d for f in self.foreign)]
        return (*self.ours, *emptied, *(() if self.foreign else (self.root,)))


def _lstat(path: Path) -> os.stat_result | None:
    try:
        return os.lstat(path)
    except OSError:
        return None


def _is_bpf_object(path: Path) -> bool:
    """A regular file that is an ELF object for the BPF machine (what buildbpf publishes)."""
    try:
        with path.open("rb") as stream:
            head = stream.read(20)
    except OSError:
        return False
    if len(head) < 20 or head[:4] != b"\x7fELF":
        return False
    return int.from_bytes(head[18:20], "little" if head[5] == 1 else "big") == _EM_BPF


def _listing(directory: Path) -> list[Path]:
    try:
        return sorted(directory.iterdir())
    except OSError as exc:
        raise FileSystemError.from_os(exc, "list the directory", directory) from None


def survey(output: Path) -> Survey:
    """Sort the entries of `output` into buildbpf's and foreign ones, without following links."""
    info = _lstat(output)
    if info is None:
        return Survey(output, False, (), ())
    if not stat.S_ISDIR(info.st_mode):  # a file or a link named `buildbpf`: the user's
        return Survey(output, False, (), (output,))
    ours: list[Path] = []
    foreign: list[Path] = []
    subdirs: list[Path] = []
    marked = False
    for entry in _listing(output):
        mode = _lstat(entry)
        if entry.name == MARKER and mode is not None and stat.S_ISREG(mode.st_mode):
            marked = True
            ours.append(entry)
        elif entry.name in _TRIPLES and mode is not None and stat.S_ISDIR(mode.st_mode):
            subdirs.append(entry)
            for item in _listing(entry):
                kind = _lstat(item)
                regular = kind is not None and stat.S_ISREG(kind.st_mode)
                if regular and (item.name == RECORD or _is_bpf_object(item)):
                    ours.append(item)
                else:
                    foreign.append(item)
        else:
            foreign.append(entry)
    return Survey(output, marked, tuple(ours), tuple(foreign), tuple(subdirs))


def claim(directory: Path) -> None:
    """Make an output directory (`root(target_dir)`) buildbpf's before publishing into it:
    create it with its marker, mark one an older buildbpf made, refuse a folder of the user's."""
    found = survey(directory)
    if found.marked:
        return
    if not found.owned and _fs.exists(found.root):
        shown = ", ".join(str(p.relative_to(found.root)) if p != found.root else "it is not a directory"
                          for p in found.foreign[:5])  # fmt: skip
        more = f" and {len(found.foreign) - 5} more" if len(found.foreign) > 5 else ""
        raise ConfigError(
            f"{found.root} is not buildbpf's output directory (it holds {shown}{more}), and buildbpf "
            "publishes the verified objects there",
            fix=f"use another target dir (--target-dir, CARGO_TARGET_DIR or build.target-dir), "
            f"or move {found.root} away; buildbpf never writes into a folder it did not make",
        )
    _fs.write_atomic(found.root / MARKER, MARKER_TEXT)
