"""The per-crate configs buildbpf writes are kept out of `git status` through info/exclude."""

from __future__ import annotations

from pathlib import Path

from buildbpf.cargo import git_exclude


def repo(top: Path) -> Path:
    (top / ".git" / "info").mkdir(parents=True)
    return top


def test_a_line_is_added_once_under_one_header(tmp_path: Path) -> None:
    top = repo(tmp_path / "ws")
    (top / ".git" / "info" / "exclude").write_text("# git's own comment\n*.swp")  # no final newline
    first = top / "probe-ebpf" / ".cargo" / "config.toml"
    second = top / "crates" / "other-ebpf" / ".cargo" / "config.toml"
    assert git_exclude.exclude(first) == top / ".git" / "info" / "exclude"
    assert git_exclude.exclude(first) is None  # already there
    assert git_exclude.exclude(second) is not None
    assert (top / ".git" / "info" / "exclude").read_text().splitlines() == [
        "# git's own comment", "*.swp", git_exclude.HEADER,
        "/probe-ebpf/.cargo/config.toml", "/crates/other-ebpf/.cargo/config.toml",
    ]  # fmt: skip


def test_no_repository_no_line(tmp_path: Path) -> None:
    assert git_exclude.exclude(tmp_path / "ws" / "x-ebpf" / ".cargo" / "config.toml") is None
    assert not list(tmp_path.rglob("exclude"))


def test_a_worktree_writes_the_common_exclude_file(tmp_path: Path) -> None:
    main = repo(tmp_path / "main")
    private = main / ".git" / "worktrees" / "wt"
    private.mkdir(parents=True)
    (private / "commondir").write_text("../..\n")
    worktree = tmp_path / "wt"
    worktree.mkdir()
    (worktree / ".git").write_text(f"gitdir: {private}\n")
    found = git_exclude.exclude(worktree / "a-ebpf" / ".cargo" / "config.toml")
    assert found == main / ".git" / "info" / "exclude"
    assert "/a-ebpf/.cargo/config.toml" in (main / ".git" / "info" / "exclude").read_text()


def test_a_submodule_writes_its_own_git_directory(tmp_path: Path) -> None:
    outer = repo(tmp_path / "outer")
    modules = outer / ".git" / "modules" / "sub"
    modules.mkdir(parents=True)
    (outer / "sub").mkdir()
    (outer / "sub" / ".git").write_text("gitdir: ../.git/modules/sub\n")
    found = git_exclude.exclude(outer / "sub" / "p-ebpf" / ".cargo" / "config.toml")
    assert found == modules / "info" / "exclude"
    assert not (outer / ".git" / "info" / "exclude").exists()


def test_patterns_match_the_path_literally(tmp_path: Path) -> None:
    literal = "/a\\[1\\]\\*/\\#b/\\!c/.cargo/config.toml"
    assert git_exclude.pattern(Path("a[1]*/#b/!c/.cargo/config.toml")) == literal
    assert git_exclude.pattern(Path("sp /x ")) == "/sp /x\\ "
    assert git_exclude.pattern(Path("new\nline")) is None


def test_an_unwritable_exclude_file_is_not_an_error(tmp_path: Path) -> None:
    top = repo(tmp_path / "ws")
    (top / ".git" / "info" / "exclude").mkdir()  # a directory where the file should be
    assert git_exclude.exclude(top / "p-ebpf" / ".cargo" / "config.toml") is None
