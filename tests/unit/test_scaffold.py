"""`buildbpf init`: golden output, name validation, and refusals that write nothing."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildbpf import scaffold
from buildbpf.errors import ConfigError
from buildbpf.programs import PROGRAM_TYPES, syscall_symbol

GOLDEN = Path(__file__).parent / "golden" / "init"


def tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("kind", ["xdp", "tracepoint", "fentry"])
def test_rendered_files_golden(kind: str) -> None:
    program = scaffold.program_type(kind)
    files = scaffold.render("probe", program, program.options, arch="x86_64")
    golden = GOLDEN / kind
    if os.environ.get("BUILDBPF_UPDATE_GOLDEN"):
        for item in files:
            (golden / item.relative).parent.mkdir(parents=True, exist_ok=True)
            (golden / item.relative).write_text(item.text)
    assert {str(f.relative): f.text.encode() for f in files} == tree(golden)


def test_every_program_type_has_templates() -> None:
    root = scaffold.templates_root() / "programs"
    for name in PROGRAM_TYPES:
        assert (root / name / "ebpf.rs.j2").is_file(), name
        assert (root / name / "user.rs.j2").is_file(), name


def test_layout_and_names() -> None:
    files = {
        str(f.relative): f.text for f in scaffold.render("my-probe", PROGRAM_TYPES["xdp"], {"iface": "eth0"})
    }
    assert set(files) == {
        ".gitignore", "Cargo.toml", "README.md", "buildbpf.toml",
        "my-probe/Cargo.toml", "my-probe/src/main.rs",
        "my-probe-common/Cargo.toml", "my-probe-common/src/lib.rs",
        "my-probe-ebpf/Cargo.toml", "my-probe-ebpf/src/main.rs",
    }  # fmt: skip
    assert 'default-members = ["my-probe", "my-probe-common"]' in files["Cargo.toml"]
    assert "pub fn my_probe(" in files["my-probe-ebpf/src/main.rs"]
    assert '("iface", "eth0")' in files["my-probe/src/main.rs"]
    assert 'env!("BUILDBPF_OBJECTS"), "/my-probe"' in files["my-probe/src/main.rs"]


def test_syscall_symbols_follow_the_arch() -> None:
    assert syscall_symbol("connect", "x86_64") == "__x64_sys_connect"
    assert syscall_symbol("connect", "aarch64") == "__arm64_sys_connect"


@pytest.mark.parametrize(
    "name",
    ["../evil", "a/b", "..", "1abc", "has space", "fn", "self", "core", "test", "x" * 65, "", "-lead", "a.b"],
)
def test_bad_names_are_refused_and_nothing_is_written(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError) as caught:
        scaffold.init(tmp_path / "new", name=name, kind_name="xdp", options={})
    assert caught.value.fix
    assert not (tmp_path / "new").exists()
    assert list(tmp_path.iterdir()) == []


def test_name_defaults_to_the_directory(tmp_path: Path) -> None:
    planned = scaffold.init(tmp_path / "net-probe", name=None, kind_name="xdp", options={}, dry_run=True)
    assert tmp_path / "net-probe" / "net-probe-ebpf" / "Cargo.toml" in [p.path for p in planned]
    assert not (tmp_path / "net-probe").exists()  # dry run


def test_non_empty_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="not empty") as caught:
        scaffold.init(tmp_path, name="probe", kind_name="xdp", options={})
    assert caught.value.fix is not None
    assert "--force" in caught.value.fix
    assert tree(tmp_path) == {"notes.txt": b"mine"}


def test_force_writes_generated_files_and_deletes_nothing(tmp_path: Path) -> None:
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "Cargo.toml").write_text("old")
    planned = scaffold.init(tmp_path, name="probe", kind_name="xdp", options={}, force=True)
    actions = {str(p.path.relative_to(tmp_path)): p.action for p in planned}
    assert actions["Cargo.toml"] == "overwrite"
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert (tmp_path / "Cargo.toml").read_text().startswith("[workspace]")


def test_force_refuses_to_write_through_a_symlink(tmp_path: Path) -> None:
    outside = tmp_path / "outside.txt"
    outside.write_text("keep")
    project = tmp_path / "p"
    project.mkdir()
    (project / "README.md").symlink_to(outside)
    with pytest.raises(ConfigError, match="not a regular file"):
        scaffold.init(project, name="probe", kind_name="xdp", options={}, force=True)
    assert outside.read_text() == "keep"
    assert sorted(p.name for p in project.iterdir()) == ["README.md"]


def test_unknown_type_and_option(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="did you mean `kprobe`"):
        scaffold.init(tmp_path / "x", name=None, kind_name="kprobee", options={})
    with pytest.raises(ConfigError, match="did you mean `iface`"):
        scaffold.init(tmp_path / "x", name=None, kind_name="xdp", options={"ifce": "eth0"})
    assert not (tmp_path / "x").exists()


def test_destination_is_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("")
    with pytest.raises(ConfigError, match="not a directory"):
        scaffold.init(tmp_path / "f", name="probe", kind_name="xdp", options={})


def test_program_name_never_collides_with_a_section() -> None:
    assert scaffold.program_name("my-probe") == "my_probe"
    assert scaffold.program_name("classifier") == "classifier_prog"
    assert scaffold.program_name("sk_msg") == "sk_msg_prog"
    assert scaffold.program_name("xdp") == "xdp_prog"


@pytest.mark.parametrize("name", ["aya", "aya-ebpf", "aya_ebpf", "anyhow", "libc", "log", "syn", "aya-build"])
def test_names_of_dependencies_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ConfigError, match="specification is ambiguous") as caught:
        scaffold.init(tmp_path / "new", name=name, kind_name="xdp", options={})
    assert caught.value.fix == f"pick another name, e.g. --name {name}-probe"
    assert not (tmp_path / "new").exists()


def test_derived_crate_names_are_checked_too(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scaffold, "dependency_names", lambda: frozenset({"foo-ebpf"}))
    with pytest.raises(ConfigError, match="makes a crate `foo-ebpf`"):
        scaffold.init(tmp_path / "new", name="foo", kind_name="xdp", options={})
    scaffold.init(tmp_path / "new", name="foo-probe", kind_name="xdp", options={}, dry_run=True)


def test_dependency_names_come_from_the_templates() -> None:
    import tomllib

    files = {str(f.relative): f.text for f in scaffold.render("probe", PROGRAM_TYPES["xdp"], {})}
    workspace = tomllib.loads(files["Cargo.toml"])
    direct = scaffold._registry_dependencies(workspace)
    assert direct == {"aya", "aya-ebpf", "anyhow", "libc"}  # probe-common is a path dependency
    assert direct <= scaffold.dependency_names()
    assert {"log", "aya-obj", "thiserror"} <= scaffold.dependency_names()  # from the lock
