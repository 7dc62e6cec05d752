"""Program types are folders: `templates/programs/<type>/` with a type.toml. A new folder is a
new type with no Python change; a malformed type.toml is one ConfigError naming file and key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from buildbpf.errors import ConfigError
from buildbpf.scaffold import templates
from buildbpf.scaffold.init import run
from buildbpf.scaffold.names import program_name
from buildbpf.scaffold.program_types import find_program_type, load_program_types, options_for
from buildbpf.scaffold.templates import templates_root

PROGRAM_TYPES = load_program_types()
NEW_TYPE = """\
summary = "kprobe on tcp_v4_connect"
section = "kprobe/{function}"
attach = "kernel-function"
aya_program = "KProbe"

[options.function]
default = "tcp_v4_connect"
rule = "kernel-function"
help = "kernel function"
"""


@pytest.fixture
def copied_templates(tmp_path: Path) -> Path:
    """A copy of buildbpf's templates tree, to add or break a program type in."""
    root = tmp_path / "templates"
    shutil.copytree(templates_root(), root)
    return root


def add_type(root: Path, name: str, type_toml: str, like: str = "kprobe") -> Path:
    """A new program type folder: `type_toml` and the Rust templates of `like`."""
    folder = root / "programs" / name
    shutil.copytree(root / "programs" / like, folder)
    (folder / "type.toml").write_text(type_toml)
    return folder


def test_a_new_folder_is_a_program_type(copied_templates: Path, tmp_path: Path) -> None:
    add_type(copied_templates, "tcp_connect", NEW_TYPE)
    types = load_program_types(copied_templates)
    # no `order` in its type.toml: after the types that have one (xdp, classifier), by name
    assert list(types) == ["xdp", "classifier", *sorted(set(types) - {"xdp", "classifier"})]
    assert set(types) == {*PROGRAM_TYPES, "tcp_connect"}
    kind = find_program_type("tcp-connect", copied_templates)
    assert (kind.section, kind.attach, kind.aya_program) == ("kprobe/{function}", "kernel-function", "KProbe")
    assert kind.rules["function"].what == "a kernel function name"
    with pytest.raises(ConfigError, match="is not a kernel function name"):
        options_for(kind, {"function": "tcp connect"})
    planned = run(tmp_path / "new", name="probe", kind_name="tcp_connect", options={},
                  templates=copied_templates)  # fmt: skip
    assert all(p.action == "create" for p in planned)
    ebpf = (tmp_path / "new" / "probe-ebpf" / "src" / "main.rs").read_text()
    assert '#[unsafe(link_section = "kprobe/tcp_v4_connect")]' in ebpf
    assert "tcp_connect program `probe`" in ebpf
    # its name is a section name now: a project called like it gets another function name
    assert program_name("tcp-connect", types.values()) == "tcp_connect_prog"
    # buildbpf's own templates are untouched
    assert "tcp_connect" not in load_program_types()
    with pytest.raises(ConfigError, match="did you mean `tcp_connect`"):
        find_program_type("tcp_conect", copied_templates)


BROKEN = [
    # (what replaces what in the new type.toml, the key the error names, more of its message)
    ('rule = "kernel-function"', 'rule = "kernel-fn"', "options.function.rule",
     "unknown rule 'kernel-fn'; did you mean 'kernel-function'?"),
    ("summary =", "summry =", "summry", "unknown key; did you mean `summary`?"),
    ('help = "kernel function"', 'help = "kernel function"\nhlep = "x"', "options.function.hlep",
     "unknown key; did you mean `help`?"),
    ('default = "tcp_v4_connect"\n', "", "options.function",
     "give exactly one of `default` and `default_syscall`"),
    ('default = "tcp_v4_connect"', 'default = "tcp v4"', "options.function",
     "default 'tcp v4' is not a kernel function name"),
    ('section = "kprobe/{function}"', 'section = "kprobe/{fn}"', "section", "`{fn}` names no option"),
    ('attach = "kernel-function"', 'attach = "kernel"', "attach", "Input should be 'interface', 'cgroup'"),
    ('aya_program = "KProbe"\n', "", "aya_program", "Field required"),
    ('rule = "kernel-function"', 'rule = "kernel-function"\nchoices = ["a"]', "options.function.choices",
     "`choices` belongs to rule 'one-of' only"),
    ("[options.function]", "[options.Function]", "options", "option 'Function'"),
    ('summary = "', 'summary = "unterminated\n', "", "line 1"),
]


@pytest.mark.parametrize(("old", "new", "key", "message"), BROKEN)
def test_a_malformed_type_toml_names_file_and_key(
    copied_templates: Path, old: str, new: str, key: str, message: str
) -> None:
    assert old in NEW_TYPE
    folder = add_type(copied_templates, "broken", NEW_TYPE.replace(old, new, 1))
    with pytest.raises(ConfigError) as caught:
        load_program_types(copied_templates)
    text = caught.value.message
    assert text.startswith(f"{folder / 'type.toml'}: "), text
    assert (f"{key}: {message}" if key else message) in text, text
    assert caught.value.fix == f"correct {folder / 'type.toml'} (templates/README.md describes its keys)"


@pytest.mark.parametrize("missing", ["type.toml", "ebpf.rs.j2", "user.rs.j2"])
def test_a_folder_without_its_files_is_named(copied_templates: Path, missing: str) -> None:
    folder = add_type(copied_templates, "partial", NEW_TYPE)
    (folder / missing).unlink()
    with pytest.raises(ConfigError, match=f"program type folder {folder} has no {missing}"):
        load_program_types(copied_templates)


def test_every_type_names_its_aya_program_and_section_options() -> None:
    """`aya_program` is what user.rs.j2 converts to; `section` uses only the type's options."""
    for name, kind in PROGRAM_TYPES.items():
        user = (templates_root() / "programs" / name / "user.rs.j2").read_text()
        assert f"aya::programs::{kind.aya_program} =" in user, name
        kind.section.format_map(kind.options)  # every placeholder is an option (KeyError if not)


def test_the_wheel_layout_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """pyproject force-includes templates/ as buildbpf/_templates: templates_root finds it there."""
    package = tmp_path / "site-packages" / "buildbpf"
    shutil.copytree(templates_root(), package / "_templates")
    monkeypatch.setattr(templates, "__file__", str(package / "scaffold" / "templates.py"))
    assert templates_root() == package / "_templates"
    assert list(load_program_types(templates_root())) == list(PROGRAM_TYPES)
    shutil.rmtree(package / "_templates")
    with pytest.raises(ConfigError, match="templates are missing"):
        templates_root()
