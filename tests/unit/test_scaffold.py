"""`buildbpf init`: golden output, name validation, and refusals that write nothing."""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path

import pytest

from buildbpf.cli.app import run_cli
from buildbpf.errors import ConfigError, FileSystemError
from buildbpf.scaffold import dependencies, write
from buildbpf.scaffold.init import run
from buildbpf.scaffold.names import program_name
from buildbpf.scaffold.plan import RECORD
from buildbpf.scaffold.program_types import find_program_type, load_program_types, syscall_symbol
from buildbpf.scaffold.render import render_workspace
from buildbpf.scaffold.templates import templates_root

PROGRAM_TYPES = load_program_types()
GOLDEN = Path(__file__).parent / "golden" / "init"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["xdp", "tracepoint", "fentry"])
def test_rendered_files_golden(kind: str) -> None:
    program = find_program_type(kind)
    files = render_workspace("probe", program, program.options, arch="x86_64")
    golden = GOLDEN / kind
    if os.environ.get("BUILDBPF_UPDATE_GOLDEN"):
        for item in files:
            (golden / item.relative).parent.mkdir(parents=True, exist_ok=True)
            (golden / item.relative).write_text(item.text)
    assert {str(f.relative): f.text.encode() for f in files} == tree(golden)


def test_every_program_type_has_templates() -> None:
    root = templates_root() / "programs"
    for name in PROGRAM_TYPES:
        assert (root / name / "ebpf.rs.j2").is_file(), name
        assert (root / name / "user.rs.j2").is_file(), name


def test_layout_and_names() -> None:
    files = {
        str(f.relative): f.text for f in render_workspace("my-probe", PROGRAM_TYPES["xdp"], {"iface": "eth0"})
    }
    assert set(files) == {
        ".gitignore", "Cargo.toml", "Cargo.lock", "README.md", "buildbpf.toml",
        "noxfile.py", ".github/workflows/ebpf.yml",
        "my-probe/Cargo.toml", "my-probe/build.rs", "my-probe/src/main.rs",
        "my-probe-common/Cargo.toml", "my-probe-common/src/lib.rs",
        "my-probe-ebpf/Cargo.toml", "my-probe-ebpf/src/main.rs",
    }  # fmt: skip
    assert 'default-members = ["my-probe", "my-probe-common"]' in files["Cargo.toml"]
    assert "pub fn my_probe(" in files["my-probe-ebpf/src/main.rs"]
    assert '("iface", "eth0")' in files["my-probe/src/main.rs"]
    main = files["my-probe/src/main.rs"]
    assert 'concat!(verified_objects!(), "/my-probe")' in main
    # without buildbpf, build.rs embeds a stand-in and the loader refuses, naming `buildbpf run`
    assert "if cfg!(buildbpf_stand_in) {\n        bail!(NOT_VERIFIED);" in main
    assert 'NOT_VERIFIED: &str = "BUILDBPF_OBJECTS is not set: `cargo run`' in main
    assert "use `buildbpf run`" in main
    build_rs = files["my-probe/build.rs"]
    assert "cargo::rerun-if-env-changed=BUILDBPF_OBJECTS" in build_rs
    assert 'out.join("my-probe")' in build_rs and "cargo::rustc-cfg=buildbpf_stand_in" in build_rs
    assert "buildbpf run --release -- --iface eth0" in files["README.md"]


def test_syscall_symbols_follow_the_arch() -> None:
    assert syscall_symbol("connect", "x86_64") == "__x64_sys_connect"
    assert syscall_symbol("connect", "aarch64") == "__arm64_sys_connect"


@pytest.mark.parametrize(
    "name",
    [
        *("../evil", "a/b", "..", "1abc", "has space", "fn", "self", "core", "test", "x" * 65, "", "-lead"),
        *("a.b", "probe\n", "probe\n]", 'probe"'),
    ],
)
def test_bad_names_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        run(tmp_path / "new", name=name, kind_name="xdp", options={})
    assert caught.value.fix
    assert not (tmp_path / "new").exists()
    assert list(tmp_path.iterdir()) == []


def test_name_defaults_to_the_directory(tmp_path: Path) -> None:
    planned = run(tmp_path / "net-probe", name=None, kind_name="xdp", options={}, dry_run=True)
    assert tmp_path / "net-probe" / "net-probe-ebpf" / "Cargo.toml" in [p.path for p in planned]
    assert not (tmp_path / "net-probe").exists()  # dry run


def test_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty") as caught:
        run(tmp_path, name="probe", kind_name="xdp", options={})
    assert caught.value.fix is not None
    assert "--force" in caught.value.fix
    assert tree(tmp_path) == {"notes.txt": b"mine"}


def test_force_adds_generated_files_and_deletes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    planned = run(tmp_path, name="probe", kind_name="xdp", options={}, force=True)
    assert {p.action for p in planned} == {"create"}
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "Cargo.toml").read_text().startswith("[workspace]")


def test_force_never_replaces_files_it_did_not_generate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "Cargo.toml").write_text("[workspace]\nmembers = ['mine']\n")
    (tmp_path / ".gitignore").write_text("/mine\n")
    before = tree(tmp_path)
    with pytest.raises(ConfigError, match=r"2 file\(s\) .*: \.gitignore, Cargo\.toml$"):
        run(tmp_path, name="probe", kind_name="xdp", options={}, force=True)
    assert tree(tmp_path) == before
    assert run_cli(["init", str(tmp_path), "--name", "probe", "--force"]) == 2
    err = capsys.readouterr().err
    assert "did not generate" in err
    assert "--overwrite" in err
    assert tree(tmp_path) == before


def test_overwrite_keeps_the_old_file_beside_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "Cargo.toml").write_text("mine")
    (tmp_path / "Cargo.toml.orig").write_text("an older backup")
    assert run_cli(["init", str(tmp_path), "--name", "probe", "--overwrite"]) == 0
    out = capsys.readouterr().out
    backup = tmp_path / "Cargo.toml.orig.1"
    assert f"replace: {tmp_path / 'Cargo.toml'} (yours kept as {backup})" in out
    assert backup.read_text() == "mine"
    assert (tmp_path / "Cargo.toml.orig").read_text() == "an older backup"
    assert (tmp_path / "Cargo.toml").read_text().startswith("[workspace]")


def test_force_updates_its_own_unedited_files_only(tmp_path: Path) -> None:
    run(tmp_path, name="probe", kind_name="xdp", options={})
    main = tmp_path / "probe" / "src" / "main.rs"
    planned = run(tmp_path, name="probe", kind_name="xdp", options={"iface": "eth0"}, force=True)
    actions = {str(p.path.relative_to(tmp_path)): p.action for p in planned}
    assert actions["probe/src/main.rs"] == "update"
    assert actions["Cargo.toml"] == "unchanged"
    assert '("iface", "eth0")' in main.read_text()
    # once edited, the file is the user's: --force stops, and nothing changes
    main.write_text(main.read_text() + "// my change\n")
    before = tree(tmp_path)
    with pytest.raises(ConfigError, match=r"probe/src/main\.rs"):
        run(tmp_path, name="probe", kind_name="xdp", options={"iface": "lo"}, force=True)
    assert tree(tmp_path) == before


def test_without_a_record_only_identical_files_pass(tmp_path: Path) -> None:
    run(tmp_path, name="probe", kind_name="xdp", options={})
    (tmp_path / RECORD).unlink()
    with pytest.raises(ConfigError, match=r"probe/src/main\.rs"):
        run(tmp_path, name="probe", kind_name="xdp", options={"iface": "eth0"}, force=True)
    planned = run(tmp_path, name="probe", kind_name="xdp", options={}, force=True)
    assert {p.action for p in planned if p.path.name != RECORD} == {"unchanged"}


def test_a_broken_record_is_named(tmp_path: Path) -> None:
    run(tmp_path, name="probe", kind_name="xdp", options={})
    (tmp_path / RECORD).write_text("files = 3")
    with pytest.raises(ConfigError, match=r"\.buildbpf-init\.toml is not a record") as caught:
        run(tmp_path, name="probe", kind_name="xdp", options={}, force=True)
    assert caught.value.fix is not None
    assert "delete" in caught.value.fix


def _fail_after(monkeypatch: pytest.MonkeyPatch, n: int) -> list[Path]:
    """Make the n-th file write (0-based) fail as on a full disk; the files written before it."""
    written: list[Path] = []
    real = write._write_file

    def failing_write(path: Path, data: bytes, mode: int) -> None:
        if len(written) == n:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(path))
        real(path, data, mode)
        written.append(path)

    monkeypatch.setattr(write, "_write_file", failing_write)
    return written


FILE_COUNT = len(render_workspace("probe", PROGRAM_TYPES["xdp"], {})) + 1  # and the record


@pytest.mark.parametrize("n", range(FILE_COUNT))
def test_a_full_disk_leaves_no_new_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int) -> None:
    written = _fail_after(monkeypatch, n)
    with pytest.raises(FileSystemError, match="No space left on device") as caught:
        run(tmp_path / "a" / "new", name="probe", kind_name="xdp", options={})
    assert len(written) == n
    assert "left nothing behind" in caught.value.message
    assert caught.value.fix is not None
    assert "free some space" in caught.value.fix
    assert list(tmp_path.iterdir()) == []  # not even the parent it created
    monkeypatch.undo()
    run(tmp_path / "a" / "new", name="probe", kind_name="xdp", options={})  # a retry works
    assert len(tree(tmp_path / "a" / "new")) == FILE_COUNT


@pytest.mark.parametrize("n", range(FILE_COUNT))
def test_a_full_disk_leaves_an_existing_directory_as_it_was(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, n: int
) -> None:
    (tmp_path / "Cargo.toml").write_text("mine")
    (tmp_path / "notes").mkdir()
    before = tree(tmp_path)
    _fail_after(monkeypatch, n)
    with pytest.raises(FileSystemError, match="No space left on device"):
        run(tmp_path, name="probe", kind_name="xdp", options={}, overwrite=True)
    assert tree(tmp_path) == before
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["Cargo.toml", "notes"]
    monkeypatch.undo()
    run(tmp_path, name="probe", kind_name="xdp", options={}, overwrite=True)
    assert (tmp_path / "Cargo.toml.orig").read_text() == "mine"


def test_force_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    project = tmp_path / "p"
    project.mkdir()
    (project / "README.md").symlink_to(outside)
    with pytest.raises(ConfigError, match="not a regular file"):
        run(project, name="probe", kind_name="xdp", options={}, force=True)
    assert outside.read_text() == "keep"
    assert sorted(p.name for p in project.iterdir()) == ["README.md"]


def test_unknown_type_and_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean `kprobe`"):
        run(tmp_path / "x", name=None, kind_name="kprobee", options={})
    with pytest.raises(ConfigError, match="did you mean `iface`"):
        run(tmp_path / "x", name=None, kind_name="xdp", options={"ifce": "eth0"})
    assert not (tmp_path / "x").exists()


def test_destination_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        run(tmp_path / "f", name="probe", kind_name="xdp", options={})


def test_program_name_never_collides_with_a_section() -> None:
    types = PROGRAM_TYPES.values()
    assert program_name("my-probe", types) == "my_probe"
    assert program_name("classifier", types) == "classifier_prog"
    assert program_name("sk_msg", types) == "sk_msg_prog"
    assert program_name("xdp", types) == "xdp_prog"
    assert program_name("socket", types) == "socket_prog"  # socket_filter's section
    assert program_name("sockops", types) == "sockops_prog"  # sock_ops's section
    assert program_name("license", types) == "license_prog"


@pytest.mark.parametrize("name", ["aya", "aya-ebpf", "aya_ebpf", "anyhow", "libc", "log", "syn", "aya-build"])
def test_names_of_dependencies_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="specification is ambiguous") as caught:
        run(tmp_path / "new", name=name, kind_name="xdp", options={})
    assert caught.value.fix == f"pick another name, e.g. --name {name}-probe"
    assert not (tmp_path / "new").exists()


def test_derived_crate_names_are_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(dependencies, "dependency_names", lambda: frozenset({"foo-ebpf"}))
    with pytest.raises(ConfigError, match="makes a crate `foo-ebpf`"):
        run(tmp_path / "new", name="foo", kind_name="xdp", options={})
    run(tmp_path / "new", name="foo-probe", kind_name="xdp", options={}, dry_run=True)


def test_dependency_names_come_from_the_templates() -> None:
    import tomllib

    files = {str(f.relative): f.text for f in render_workspace("probe", PROGRAM_TYPES["xdp"], {})}
    workspace = tomllib.loads(files["Cargo.toml"])
    direct = dependencies.registry_dependencies(workspace)
    # probe-common is a path dependency
    assert direct == {"aya", "aya-ebpf", "aya-log", "aya-log-ebpf", "anyhow", "libc", "log"}
    assert direct <= dependencies.dependency_names()
    assert {"log", "aya-obj", "thiserror"} <= dependencies.dependency_names()  # from the lock


def test_next_step_quotes_the_directory(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    project = tmp_path / "my probe; rm -rf ~"
    assert run_cli(["init", str(project), "--name", "probe"]) == 0
    assert f"next: cd '{project}' && buildbpf build --release" in capsys.readouterr().out


@pytest.mark.parametrize("dry_run", [True, False])
def test_init_under_a_regular_file_is_one_clear_error(tmp_path: Path, dry_run: bool) -> None:
    (tmp_path / "file").write_text("mine")
    with pytest.raises(FileSystemError, match=r"file is not a directory"):
        run(tmp_path / "file" / "a" / "new", name="p", kind_name="xdp", options={}, dry_run=dry_run)
    assert tree(tmp_path) == {"file": b"mine"}


def test_an_unlistable_destination_is_one_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Path) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", str(self))

    monkeypatch.setattr(Path, "iterdir", refuse)
    with pytest.raises(FileSystemError, match=r"cannot list .*: Permission denied"):
        run(tmp_path, name="probe", kind_name="xdp", options={})


def test_a_read_only_parent_names_the_destination(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def read_only(prefix: str, dir: Path) -> str:
        raise OSError(errno.EROFS, "Read-only file system", str(dir / (prefix + "x")))

    monkeypatch.setattr(write.tempfile, "mkdtemp", read_only)
    expected = f"cannot write {tmp_path / 'new'}: Read-only file system"
    with pytest.raises(FileSystemError, match=re.escape(expected)):
        run(tmp_path / "new", name="probe", kind_name="xdp", options={})
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("name", ["a-probe", "probe", "zz-probe"])
def test_the_lock_init_writes_names_the_projects_crates_in_cargos_order(name: str) -> None:
    """templates/Cargo.lock with the project's crates put in, sorted as cargo writes it (cargo
    would rewrite it otherwise, and `--locked` would refuse it)."""
    import tomllib

    from buildbpf.scaffold import lockfile

    xdp = PROGRAM_TYPES["xdp"]
    text = {str(f.relative): f.text for f in render_workspace(name, xdp, xdp.options)}["Cargo.lock"]
    assert "placeholder" not in text
    packages = tomllib.loads(text)["package"]
    names = [p["name"] for p in packages]
    assert names == sorted(names, key=str.encode)
    for package in packages:
        deps = [d.split()[0] for d in package.get("dependencies", [])]
        assert deps == sorted(deps, key=str.encode), package["name"]
    own = {p["name"]: p for p in packages if "source" not in p}
    assert set(own) == {name, f"{name}-common", f"{name}-ebpf"}
    assert f"{name}-common" in own[name]["dependencies"]
    assert {"aya-ebpf", "aya-log-ebpf", f"{name}-common"} == set(own[f"{name}-ebpf"]["dependencies"])
    assert lockfile.render(packages) == text  # as cargo itself would write it back
    assert "aya" in dependencies.dependency_names() and name not in dependencies.dependency_names()


def test_the_readme_says_what_a_plain_cargo_run_does() -> None:
    """The generated build.rs embeds a stand-in without BUILDBPF_OBJECTS, so `cargo run`
    compiles and the loader refuses at run time: the README must not promise a compile error."""
    xdp = PROGRAM_TYPES["xdp"]
    files = {str(f.relative): f.text for f in render_workspace("probe", xdp, xdp.options)}
    assert "cargo::rustc-cfg=buildbpf_stand_in" in files["probe/build.rs"]
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert "stops at compile time" not in readme
    assert "a plain `cargo run` compiles" in readme and "refuses to run" in readme


def test_init_ci_adds_only_the_ci_files_and_never_replaces_yours(tmp_path: Path) -> None:
    from buildbpf.errors import ConfigError
    from buildbpf.scaffold import init as scaffold

    project = tmp_path / "existing"
    (project / "src").mkdir(parents=True)
    (project / "Cargo.toml").write_text("[workspace]\n")
    planned = scaffold.run(project, name=None, kind_name="xdp", options={}, ci_only=True)
    written = sorted(str(p.path.relative_to(project)) for p in planned if p.writes)
    assert {"noxfile.py", ".github/workflows/ebpf.yml"} <= set(written)
    assert (project / "Cargo.toml").read_text() == "[workspace]\n"
    assert not (project / "buildbpf.toml").exists()  # nothing but the CI files (and init's record)
    again = scaffold.run(project, name=None, kind_name="xdp", options={}, ci_only=True)
    assert not any(p.writes for p in again)
    other = tmp_path / "mine"
    other.mkdir()
    (other / "noxfile.py").write_text("# my own sessions\n")
    with pytest.raises(ConfigError, match=r"noxfile\.py"):
        scaffold.run(other, name=None, kind_name="xdp", options={}, ci_only=True)
    assert (other / "noxfile.py").read_text() == "# my own sessions\n"
    assert not (other / ".github").exists()  # all or nothing
