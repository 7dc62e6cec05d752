"""The per-crate `.cargo/config.toml` writer: golden output, politeness, a property test."""

from __future__ import annotations

import errno
import os
import signal
import tomllib
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildbpf.cargo import config_file
from buildbpf.cargo.config_file import ConfigStatus, apply, managed_keys, render
from buildbpf.errors import ConfigError, FileSystemError

GOLDEN = Path(__file__).parent / "golden"
BTF = ["-C", "debuginfo=2", "-C", "link-arg=--btf", "--cfg", 'bpf_target_arch="x86_64"']
KEYS = managed_keys(
    ["bpfel-unknown-none", "bpfeb-unknown-none"],
    {"bpfel-unknown-none": BTF, "bpfeb-unknown-none": BTF},
    ["core"],
)

USER_CONFIG = """\
# Team settings -- keep this comment
[build]
jobs = 4 # two per core

[alias]
xb = "build --release" # handy

[target.bpfel-unknown-none]
runner = "sudo -E" # loads need root

[env]
RUST_LOG = { value = "debug", force = true }
"""


def golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BUILDBPF_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_new_file_golden() -> None:
    text, kept = render(None, KEYS, Path("config.toml"))
    assert kept == []
    golden("cargo-config-new.toml", text)


def test_user_file_golden_keeps_everything() -> None:
    text, kept = render(USER_CONFIG, KEYS, Path("config.toml"))
    assert kept == []
    golden("cargo-config-merged.toml", text)
    for line in USER_CONFIG.splitlines():
        assert line in text.splitlines()


def test_user_value_is_kept_and_reported() -> None:
    existing = '[build]\ntarget = "x86_64-unknown-linux-gnu"\n'
    text, kept = render(existing, KEYS, Path("config.toml"))
    assert 'target = "x86_64-unknown-linux-gnu"' in text
    assert kept == ["build.target = 'x86_64-unknown-linux-gnu' (buildbpf would use 'bpfel-unknown-none')"]


def test_our_own_stale_value_is_updated() -> None:
    first, _ = render(None, KEYS, Path("c"))
    stale = first.replace("x86_64", "aarch64")
    assert stale != first
    text, kept = render(stale, KEYS, Path("c"))
    assert text == first
    assert kept == []


def test_nothing_machine_specific_and_our_old_linker_key_is_retired() -> None:
    # users commit this file: an absolute linker path would dirty every checkout
    first, _ = render(None, KEYS, Path("c"))
    assert "linker" not in first
    table = "[target.bpfel-unknown-none]\n"
    old = first.replace(table, table + 'linker = "/home/u/bpf-linker" # buildbpf\n')
    assert old != first
    assert render(old, KEYS, Path("c"))[0] == first
    mine = first.replace(table, table + 'linker = "/opt/bpf-linker"\n')
    assert 'linker = "/opt/bpf-linker"' in render(mine, KEYS, Path("c"))[0]  # the user's own stays


def test_apply_create_update_unchanged(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    assert apply(tmp_path, KEYS, dry_run=True).status is ConfigStatus.CREATED
    assert not path.exists()  # dry run
    assert apply(tmp_path, KEYS).status is ConfigStatus.CREATED
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    assert apply(tmp_path, KEYS).status is ConfigStatus.UNCHANGED
    assert path.stat().st_mtime_ns == 1_000_000_000  # not rewritten
    path.write_text(USER_CONFIG)
    assert apply(tmp_path, KEYS).status is ConfigStatus.UPDATED
    assert apply(tmp_path, KEYS).status is ConfigStatus.UNCHANGED
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]  # no temp files left


def test_malformed_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    path.write_text("[build\njobs = 4\n")
    before = path.stat().st_mtime_ns
    with pytest.raises(ConfigError, match=r"config\.toml:1"):
        apply(tmp_path, KEYS)
    assert path.read_text() == "[build\njobs = 4\n"
    assert path.stat().st_mtime_ns == before


def test_failed_write_leaves_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    path.write_text(USER_CONFIG)

    def boom(self: Path, target: Path) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "replace", boom)
    with pytest.raises(FileSystemError, match=rf"^cannot write {path}: No space left on device \(ENOSPC\)$"):
        apply(tmp_path, KEYS)
    assert path.read_text() == USER_CONFIG
    assert [p.name for p in path.parent.iterdir()] == ["config.toml"]


# --- property: user content survives, and a second run is a no-op -------------------------

names = st.sampled_from(["jobs", "runner", "rustflags", "linker", "target", "incremental", "xb", "RUST_LOG"])
tables = st.sampled_from(
    [
        "build",
        "alias",
        "env",
        "net",
        "target.bpfel-unknown-none",
        "target.x86_64-unknown-linux-gnu",
        "unstable",
    ]
)
scalars = st.one_of(
    st.integers(-1000, 1000),
    st.booleans(),
    st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=12),
    st.lists(st.text(st.characters(codec="ascii", categories=["L", "N"]), max_size=6), max_size=3),
)
comments = st.text(st.characters(codec="ascii", categories=["L", "N", "Zs"]), min_size=1, max_size=20).filter(
    lambda text: text.strip() != "buildbpf"  # exactly the marker: buildbpf's key, by definition
)


@st.composite
def user_configs(draw: st.DrawFn) -> str:
    import tomlkit

    doc = tomlkit.document()
    if draw(st.booleans()):
        doc.add(tomlkit.comment(draw(comments)))
    for table_name in draw(st.lists(tables, unique=True, max_size=4)):
        table = tomlkit.table()
        for key in draw(st.lists(names, unique=True, min_size=1, max_size=3)):
            item = tomlkit.item(draw(scalars))
            if draw(st.booleans()):
                item.comment(draw(comments))
            table.add(key, item)
        parts = table_name.split(".")
        if len(parts) == 1:
            doc.add(parts[0], table)
        else:
            parent = doc.get(parts[0])
            if parent is None:
                parent = tomlkit.table(is_super_table=True)
                doc.add(parts[0], parent)
            parent.add(parts[1], table)
    return tomlkit.dumps(doc)


def _flatten(data: dict[str, object], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], object]:
    flat: dict[tuple[str, ...], object] = {}
    for key, value in data.items():
        if isinstance(value, dict):
            flat.update(_flatten(value, (*prefix, key)))
        else:
            flat[(*prefix, key)] = value
    return flat


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(user_configs())
def test_user_keys_values_and_comments_survive(existing: str) -> None:
    text, _ = render(existing, KEYS, Path("config.toml"))
    before = _flatten(tomllib.loads(existing))
    after = _flatten(tomllib.loads(text))
    for key, value in before.items():
        assert after[key] == value, key  # every user key and value, unchanged
    for line in existing.splitlines():
        if "#" in line:
            assert line.split("#", 1)[1] in text  # every comment
    for managed in KEYS:
        key = (*managed.table, managed.key)
        assert after[key] == before.get(key, managed.value)
    again, _ = render(text, KEYS, Path("config.toml"))
    assert again == text  # idempotent


def test_marker_is_what_makes_a_key_ours() -> None:
    assert config_file.MARKER == "buildbpf"
    text, _ = render(None, KEYS, Path("c"))
    assert text.count("# buildbpf") == len(KEYS)


@pytest.mark.parametrize(
    ("existing", "user"),
    [
        (None, False),
        ("", False),
        ("# only a comment\n\n", False),
        (USER_CONFIG, True),
        ("[target.bpfel-unknown-none]\nrunner = 'x'\n", True),
        ("[env\n", True),  # unreadable: only a call from that directory is right
    ],
)
def test_user_settings_are_told_apart_from_ours(tmp_path: Path, existing: str | None, user: bool) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    if existing is not None:
        path.parent.mkdir()
        path.write_text(existing)
    assert config_file.has_user_settings(tmp_path) is user
    if not user:
        apply(tmp_path, KEYS)  # buildbpf's own keys are not the user's
        assert config_file.has_user_settings(tmp_path) is False
    (tmp_path / ".cargo" / "config").write_text("")  # the legacy name: cargo reads it too
    assert config_file.has_user_settings(tmp_path) is True


# --- the file's own form survives: symlinks, line endings, byte order mark (issue #11) -----


def test_a_symlinked_config_is_written_through_its_link(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    shared = tmp_path / "shared" / "cargo-config.toml"
    shared.parent.mkdir()
    shared.write_text(USER_CONFIG)
    link = tmp_path / "crate" / ".cargo" / "config.toml"
    link.parent.mkdir(parents=True)
    link.symlink_to(shared)
    with caplog.at_level("INFO", logger="buildbpf"):
        assert apply(tmp_path / "crate", KEYS).status is ConfigStatus.UPDATED
    assert link.is_symlink() and link.readlink() == shared
    assert "# buildbpf" in shared.read_text()
    assert f"{link} is a symbolic link: writing through to {shared}" in caplog.text
    assert sorted(p.name for p in shared.parent.iterdir()) == ["cargo-config.toml"]  # no temp file
    assert apply(tmp_path / "crate", KEYS).status is ConfigStatus.UNCHANGED


def test_crlf_line_endings_survive_byte_for_byte(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    original = USER_CONFIG.replace("\n", "\r\n").encode()
    path.write_bytes(original)
    assert apply(tmp_path, KEYS).status is ConfigStatus.UPDATED
    written = path.read_bytes()
    assert written.count(b"\n") == written.count(b"\r\n")  # new lines are CRLF too
    for line in original.split(b"\r\n"):
        assert line in written.split(b"\r\n")
    assert apply(tmp_path, KEYS).status is ConfigStatus.UNCHANGED
    assert path.read_bytes() == written


def test_a_byte_order_mark_is_accepted_and_kept(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    path.write_bytes(b"\xef\xbb\xbf" + USER_CONFIG.encode())
    assert config_file.has_user_settings(tmp_path) is True
    assert apply(tmp_path, KEYS).status is ConfigStatus.UPDATED
    written = path.read_bytes()
    assert written.startswith(b"\xef\xbb\xbf# Team settings")
    assert written.count(b"\xef\xbb\xbf") == 1
    assert apply(tmp_path, KEYS).status is ConfigStatus.UNCHANGED


def test_a_key_in_the_way_names_the_file(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    path.write_text('build = "fast"\n')
    with pytest.raises(ConfigError, match=rf"{path}: `build` is not a table") as caught:
        apply(tmp_path, KEYS)
    assert caught.value.fix is not None and str(path) in caught.value.fix
    path.write_text("[[target]]\nx = 1\n")  # an array of tables where a table belongs
    with pytest.raises(ConfigError, match=rf"{path}: `target` is not a table"):
        apply(tmp_path, KEYS)


def test_deep_nesting_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    path.write_text("x = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=rf"{path}.*nested"):
        apply(tmp_path, KEYS)


@pytest.mark.parametrize("kind", ["fifo", "directory", "dangling"])
def test_a_config_that_is_not_a_regular_file_is_refused(tmp_path: Path, kind: str) -> None:
    path = tmp_path / ".cargo" / "config.toml"
    path.parent.mkdir()
    if kind == "fifo":
        os.mkfifo(path)  # reading it would block forever: the alarm fails the test instead
        signal.signal(signal.SIGALRM, lambda *_: pytest.fail("reading the FIFO blocked"))
        signal.alarm(10)
    elif kind == "directory":
        path.mkdir()
    else:
        path.symlink_to(tmp_path / "gone.toml")
    try:
        with pytest.raises(ConfigError, match=rf"{path} is (a FIFO|a directory|a symbolic link to .*gone)"):
            apply(tmp_path, KEYS)
    finally:
        signal.alarm(0)


def test_bpf_rustflags_are_read_as_cargo_joins_them(tmp_path: Path) -> None:
    from buildbpf.cargo.config_file import ConfigFlags, project_bpf_rustflags

    root = tmp_path / "ws"
    crate = root / "x-ebpf"
    (crate / ".cargo").mkdir(parents=True)
    (root / ".cargo").mkdir()
    home = tmp_path / "cargo-home"
    home.mkdir()
    # as an older aya-template root had it; a host target's flags are not the eBPF build's
    (root / ".cargo" / "config.toml").write_text(
        '[target.bpfel-unknown-none]\nrustflags = ["-C", "panic=abort", "-C", "debuginfo=2"]\n'
        '[target.x86_64-unknown-linux-gnu]\nrustflags = ["-C", "target-cpu=native"]\n'
    )
    (crate / ".cargo" / "config.toml").write_text(
        '[build]\ntarget = "bpfel-unknown-none"\nrustflags = ["--cfg", "ignored"]\n'
        '[target.bpfel-unknown-none]\nrustflags = ["--cfg", "mine"]\n'
    )
    (home / "config.toml").write_text(
        '[target.bpfeb-unknown-none]\nrustflags = "-C opt-level=3"\n'
        '[target.bpfel-unknown-none]\nrustflags = ["-Zhome"]\n'
    )
    # cargo joins every [target.TRIPLE] array, the home's first, the crate's last, and then
    # ignores [build] rustflags
    assert project_bpf_rustflags(crate, home, "bpfel-unknown-none", build_below=root) == [
        ConfigFlags(home / "config.toml", "target.bpfel-unknown-none.rustflags", ("-Zhome",)),
        ConfigFlags(root / ".cargo" / "config.toml", "target.bpfel-unknown-none.rustflags",
                    ("-C", "panic=abort", "-C", "debuginfo=2")),
        ConfigFlags(crate / ".cargo" / "config.toml", "target.bpfel-unknown-none.rustflags",
                    ("--cfg", "mine")),
    ]  # fmt: skip
    assert project_bpf_rustflags(crate, home, "bpfeb-unknown-none", build_below=root) == [
        ConfigFlags(home / "config.toml", "target.bpfeb-unknown-none.rustflags", ("-C", "opt-level=3"))
    ]


def test_build_rustflags_count_only_from_the_ebpf_crates_own_config(tmp_path: Path) -> None:
    from buildbpf.cargo.config_file import ConfigFlags, project_bpf_rustflags

    root = tmp_path / "ws"
    crate = root / "x-ebpf"
    (crate / ".cargo").mkdir(parents=True)
    (root / ".cargo").mkdir()
    # the root's [build] rustflags are the host's (mold for userspace: PITFALLS #11)
    (root / ".cargo" / "config.toml").write_text('[build]\nrustflags = ["-C", "link-arg=-fuse-ld=mold"]\n')
    (crate / ".cargo" / "config.toml").write_text('[build]\nrustflags = "--cfg my_feature"\n')
    assert project_bpf_rustflags(crate, tmp_path / "home", "bpfel-unknown-none", build_below=root) == [
        ConfigFlags(crate / ".cargo" / "config.toml", "build.rustflags", ("--cfg", "my_feature"))
    ]
    assert project_bpf_rustflags(root, tmp_path / "home", "bpfel-unknown-none", build_below=root) == []


def test_rustflags_buildbpf_wrote_are_not_the_projects(tmp_path: Path) -> None:
    from buildbpf.cargo.config_file import project_bpf_rustflags

    (tmp_path / "x" / ".cargo").mkdir(parents=True)
    (tmp_path / "x" / ".cargo" / "config.toml").write_text(
        '[target.bpfel-unknown-none]\nrustflags = ["-C", "debuginfo=2"] # buildbpf\n'
    )
    found = project_bpf_rustflags(tmp_path / "x", tmp_path / "h", "bpfel-unknown-none", build_below=tmp_path)
    assert found == []


def test_a_comment_that_mentions_buildbpf_is_the_users() -> None:
    """Found by hypothesis: `linker = 0 # buildbpf ...` was taken for buildbpf's own key."""
    path = Path("/ws/probe-ebpf/.cargo/config.toml")
    existing = '[build]\ntarget = "x86_64-unknown-linux-gnu" # not buildbpf: mine\n'
    text, kept = config_file.render(existing, KEYS, path)
    assert 'target = "x86_64-unknown-linux-gnu" # not buildbpf: mine' in text and kept
