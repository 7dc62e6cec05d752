"""Every setting, generated from the model: the file, the variable and the flag override in
the documented order, each with its provenance; the declarations stay consistent."""

from __future__ import annotations

import dataclasses
import enum
import types
import typing
from pathlib import Path
from typing import Any

import pytest
import tomlkit

from buildbpf.build.environment import USER_VARIABLES
from buildbpf.build.precedence import SETTINGS, Setting, cli_overrides, resolve, setting
from buildbpf.build.settings import ConfigFile, CrateSettings, Overrides, Source, load_config, schema
from buildbpf.toolchain import named

CRATE = "probe-ebpf"


def _kind(annotation: Any) -> Any:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def samples(item: Setting) -> list[Any]:
    """Three values of the setting's type, none of them its default (as TOML would hold them)."""
    kind = _kind(item.info.annotation)
    default = item.default
    if kind is bool:
        return [not default] * 3  # the source, not the value, tells the layers apart
    if kind is int:
        bounds = [m for m in item.info.metadata if hasattr(m, "le")]
        return [0, 1, 0] if bounds else [3, 4, 5]  # debuginfo is 0..2
    if kind is float:
        return [90.0, 12.5, 7.0]
    if kind is str:
        return ["from-file", "from-env", "from-cli"]
    if typing.get_origin(kind) is typing.Literal:
        choices = [c for c in typing.get_args(kind) if c != default]
        return [choices[n % len(choices)] for n in range(3)]  # the source tells the layers apart
    if isinstance(kind, type) and issubclass(kind, enum.Enum):
        choices = [c.value for c in kind if c != default]
        return [choices[0], choices[-1], choices[0]]
    if typing.get_origin(kind) is list:
        (inner,) = typing.get_args(kind)
        if isinstance(inner, type) and issubclass(inner, enum.Enum):
            members = [m.value for m in inner]
            return [members[-1:], members, members[-1:]]
        if typing.get_origin(inner) is typing.Literal:
            choices = list(typing.get_args(inner))
            return [choices, choices[-1:], choices]
        return [["from-file"], ["from-env"], ["from-cli"]]
    raise AssertionError(f"{item.name}: add a sample for {kind!r} to this test")


def as_text(value: Any) -> str:
    """What a user writes in a variable or an option for `value`."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, list):
        return ",".join(str(v) for v in value)
    return str(value)


def nest(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    for key in reversed(path):
        value = {key: value}
    return value  # type: ignore[no-any-return]


def merge(into: dict[str, Any], extra: dict[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(into.get(key), dict):
            merge(into[key], value)
        else:
            into[key] = value


def leaf(value: Any, item: Setting) -> Any:
    """The part of a resolved value that `item` is (a key of a table, or all of it)."""
    for key in item.path[1:]:
        value = getattr(value, key)
    if isinstance(value, list):
        return [getattr(v, "value", v) for v in value]
    return getattr(value, "value", value)


# every setting the file can hold (a table such as `linker` is covered by its keys)
LEAVES = [s for s in SETTINGS if not any(o.path[: len(s.path)] == s.path and o is not s for o in SETTINGS)]


@pytest.mark.parametrize("item", LEAVES, ids=lambda s: s.name)
def test_each_layer_overrides_the_one_below(tmp_path: Path, item: Setting) -> None:
    top = setting(item.path[0])
    file_value, env_value, cli_value = samples(item)
    document: dict[str, Any] = {}
    expected: list[tuple[Any, Source, str]] = []

    def check(environ: dict[str, str], cli: Overrides | None) -> None:
        (tmp_path / "buildbpf.toml").write_text(tomlkit.dumps(document))
        config = load_config(tmp_path)
        found = resolve(top, config, environ, cli, CRATE if item.scope == "crate" else None)
        value, source, origin = expected[-1]
        assert (leaf(found.value, item), found.source) == (value, source)
        assert origin in found.origin

    document.clear()
    expected.append((leaf(top.default, item), Source.DEFAULT, top.unset))
    check({}, None)
    tables: list[tuple[str, ...]] = [()]
    if item.scope == "crate":
        tables = [(), ("defaults",), ("crates", CRATE)] if item.path[0] in ConfigFile.model_fields else [
            ("defaults",), ("crates", CRATE)]  # fmt: skip
    for number, table in enumerate(tables):
        value = file_value if number % 2 == 0 else samples(item)[1]
        merge(document, nest((*table, *item.path), value))
        shown = str(tmp_path / value) if item.relative else value
        expected.append((shown, Source.FILE, ".".join((*table, *item.path[:1]))))
        check({}, None)
    environ = {}
    if item.env is not None:
        assert item.env == "BUILDBPF_" + item.path[-1].upper()
        environ = {item.env: as_text(env_value)}
        expected.append((env_value, Source.ENV, item.env))
        check(environ, None)
    if item.cli is not None:
        cli = cli_overrides(**{item.path[-1]: as_text(cli_value)})
        expected.append((cli_value, Source.CLI, item.cli))
        check(environ, cli)
    else:
        assert item.path[-1] not in {f.name for f in dataclasses.fields(Overrides)}


def test_the_flags_are_the_overrides() -> None:
    """`Overrides` has one field per setting with a flag, and `cli_overrides` knows them all."""
    flagged = {s.path[-1] for s in SETTINGS if s.cli is not None}
    assert {f.name for f in dataclasses.fields(Overrides)} == flagged
    with pytest.raises(TypeError, match="btf is not a setting with a command-line flag"):
        cli_overrides(btf="1")


def test_every_variable_is_known_to_the_typo_check() -> None:
    """`unknown_variables` warns about any other BUILDBPF_*: each setting's must be listed."""
    assert {s.env for s in SETTINGS if s.env is not None} <= set(USER_VARIABLES)
    # the toolchain layer reads the linker's variable itself (doctor, setup): the same name
    assert setting("bpf_linker").env == named.LINKER_VARIABLE


def test_a_key_at_the_top_and_in_a_crate_table_is_declared_alike() -> None:
    for name, info in ConfigFile.model_fields.items():
        if name in CrateSettings.model_fields:
            assert info.json_schema_extra == CrateSettings.model_fields[name].json_schema_extra


def test_the_schema_shows_defaults_variables_and_flags() -> None:
    generated = schema()
    crate = generated["$defs"]["CrateSettings"]["properties"]
    assert crate["btf"]["default"] is True
    assert crate["targets"]["default"] == ["bpfel"]
    assert crate["opt_level"]["default"] == "3"
    assert (crate["targets"]["env"], crate["targets"]["cli"]) == ("BUILDBPF_TARGETS", "--target")
    assert "env" not in crate["lto"]  # no variable: nothing claimed
    assert generated["$defs"]["LinkerOptions"]["properties"]["cpu"]["env"] == "BUILDBPF_CPU"
    top = generated["properties"]
    timeout = top["cargo_timeout"]
    assert (timeout["default"], timeout["env"]) == (3600.0, "BUILDBPF_CARGO_TIMEOUT")
    for item in SETTINGS:  # every setting's default is in the schema, as the field declares it
        node = generated if item.scope == "workspace" else generated["$defs"]["CrateSettings"]
        for key in item.path[:-1]:  # into a table: `linker` is a $ref to LinkerOptions
            node = generated["$defs"][node["properties"][key]["$ref"].rsplit("/", 1)[1]]
        prop = node["properties"][item.path[-1]]
        if item.info.default_factory is None:
            assert "default" in prop, item.name
