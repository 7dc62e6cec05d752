"""Keep the files buildbpf writes into a checkout out of the user's `git status`.

A zero-edit build writes each eBPF crate's `.cargo/config.toml` (it makes plain `cargo build`
and editors work in that crate). Left untracked it shows as `??` in `git status`: buildbpf
adds it to the repository's local exclude file (`info/exclude` in the git directory, never a
tracked `.gitignore`), found without running git. Nothing here may fail a build.
"""

from __future__ import annotations

import logging
from pathlib import Path

from buildbpf import _fs
from buildbpf.errors import BuildbpfError

log = logging.getLogger("buildbpf")

HEADER = "# buildbpf: the per-crate cargo configs it writes (buildbpf.toml `write_config = false` stops them)"
_SPECIAL = "\\*?[]!#"  # characters a gitignore pattern treats specially


def repository(path: Path) -> tuple[Path, Path] | None:
    """(work tree root, common git directory) of the repository `path` is in, or None.

    A `.git` file (a worktree, a submodule) names the git directory; a worktree's `commondir`
    names the directory that holds `info/exclude`.
    """
    for top in (path, *path.parents):
        dot_git = top / ".git"
        if _fs.is_dir(dot_git):
            git_dir = dot_git
        elif _fs.is_file(dot_git):
            try:
                text = _fs.read_text(dot_git, limit=4096, what="git file").strip()
            except BuildbpfError:  # an unreadable .git file: not a repository we can use
                return None
            if not text.startswith("gitdir:"):
                return None
            git_dir = (top / text.removeprefix("gitdir:").strip()).resolve()
        else:
            continue
        common = git_dir
        if _fs.is_file(git_dir / "commondir"):
            try:
                relative = _fs.read_text(git_dir / "commondir", limit=4096, what="git commondir").strip()
            except BuildbpfError:
                return None
            common = (git_dir / relative).resolve()
        return top, common
    return None


def pattern(relative: Path) -> str | None:
    """An anchored gitignore pattern matching exactly this path; None when none can (a newline)."""
    text = relative.as_posix()
    if "\n" in text or "\r" in text:
        return None
    escaped = "".join(f"\\{c}" if c in _SPECIAL else c for c in text)
    if escaped.endswith(" "):
        escaped = escaped[:-1] + "\\ "
    return "/" + escaped


def exclude(path: Path) -> Path | None:
    """Add `path` to its repository's `info/exclude`; the exclude file when a line was added,
    None when `path` is in no repository, is excluded already, or the file cannot be written."""
    found = repository(path.parent)
    if found is None:
        return None
    top, common = found
    try:
        line = pattern(path.relative_to(top))
    except ValueError:
        return None
    if line is None:
        return None
    exclude_file = common / "info" / "exclude"
    existing = ""
    if _fs.exists(exclude_file):
        try:
            existing = _fs.read_text(exclude_file, what="git exclude file")
        except BuildbpfError as exc:  # saving a `??` line is not worth a failed build
            log.debug("not adding %s to %s: %s", path, exclude_file, exc)
            return None
    lines = existing.splitlines()
    if line in lines:
        return None
    addition = ([] if HEADER in lines else [HEADER]) + [line]
    text = existing + ("\n" if existing and not existing.endswith("\n") else "") + "\n".join(addition) + "\n"
    if not _fs.write_optional(exclude_file, text, f"the git exclude line for {path}"):
        return None
    return exclude_file
