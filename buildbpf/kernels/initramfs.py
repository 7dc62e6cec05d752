"""The guest's initramfs: a newc cpio archive written here, no external cpio needed.

The layout is the one GNU `cpio -o -H newc --reproducible -R 0:0` writes: inode numbers
counted from 0, device numbers 0, owner root, the archive padded to 512 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC = b"070701"
TRAILER = "TRAILER!!!"
S_IFDIR = 0o040000
S_IFREG = 0o100000
BLOCK = 512


@dataclass(frozen=True)
class Entry:
    """One member: a directory (data None) or a regular file."""

    name: str
    mode: int  # permission bits only
    data: bytes | None = None
    mtime: int = 0


def _pad(length: int) -> bytes:
    return b"\0" * (-length % 4)


def _member(ino: int, name: str, mode: int, *, nlink: int, mtime: int, data: bytes) -> bytes:
    encoded = name.encode() + b"\0"
    fields = (ino, mode, 0, 0, nlink, mtime, len(data), 0, 0, 0, 0, len(encoded), 0)
    header = MAGIC + b"".join(b"%08X" % value for value in fields)
    head = header + encoded
    return head + _pad(len(head)) + data + _pad(len(data))


def archive(entries: list[Entry]) -> bytes:
    """The newc archive of `entries`, in their order, then the trailer, padded to 512 bytes.

    Parent directories must come before what they hold (the kernel creates nothing implicitly).
    """
    out = bytearray()
    for ino, entry in enumerate(entries):
        if entry.data is None:
            out += _member(ino, entry.name, S_IFDIR | entry.mode, nlink=2, mtime=entry.mtime, data=b"")
        else:
            out += _member(ino, entry.name, S_IFREG | entry.mode, nlink=1, mtime=entry.mtime, data=entry.data)
    out += _member(0, TRAILER, 0, nlink=1, mtime=0, data=b"")
    out += b"\0" * (-len(out) % BLOCK)
    return bytes(out)


def with_parents(files: dict[str, tuple[bytes, int]]) -> list[Entry]:
    """Entries for `files` (name -> (data, mode)) preceded by every directory they need."""
    entries: list[Entry] = []
    seen: set[str] = set()
    for name in sorted(files):
        parts = name.split("/")
        for depth in range(1, len(parts)):
            directory = "/".join(parts[:depth])
            if directory not in seen:
                seen.add(directory)
                entries.append(Entry(directory, 0o755))
        data, mode = files[name]
        entries.append(Entry(name, mode, data))
    return entries
