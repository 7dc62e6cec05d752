"""Where each setting's value comes from, decided in one place (`resolve`), with provenance.

The settings are the fields of `settings.CrateSettings` and `settings.ConfigFile` (`SETTINGS`
lists them, generated): a field's default is the built-in default, its `BUILDBPF_<FIELD>`
variable and command-line flag are declared on it. Lowest to highest: the default < the
top-level key < `[defaults]` < `[crates.NAME]` < the variable < the flag. The toolchain pins
(workspace and per crate) are decided here too (`toolchain_pins`).
"""

from __future__ import annotations

import enum
import math
import os
import shlex
import types
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel
from pydantic.fields import FieldInfo

from buildbpf.build.environment import env_flag
from buildbpf.build.settings import (
    BpfTarget,
    ConfigFile,
    Cpu,
    CrateSettings,
    Effective,
    LoadedConfig,
    Overrides,
    Source,
    Value,
    env_name,
)
from buildbpf.errors import ConfigError
from buildbpf.toolchain.pin import Pin, file_pin

# --- the settings, as the models declare them ------------------------------------------------


@dataclass(frozen=True)
class Setting:
    """One setting, as its field declares it: where it sits, its variable and its flag."""

    path: tuple[str, ...]  # ("targets",), ("linker", "cpu"), ("cargo_timeout",)
    scope: Literal["crate", "workspace"]  # per crate ([defaults], [crates.NAME]) or top-level only
    info: FieldInfo
    env: str | None  # "BUILDBPF_TARGETS"
    cli: str | None  # "--target"
    unset: str  # the origin `buildbpf config` shows for the built-in default
    relative: bool = False  # a path in the file, relative to the file's directory

    @property
    def name(self) -> str:
        return ".".join(self.path)

    @property
    def default(self) -> Any:
        return self.info.get_default(call_default_factory=True)


def _submodel(annotation: Any) -> type[BaseModel] | None:
    """The model a field holds (`X` or `X | None`), if it holds one."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [_submodel(a) for a in typing.get_args(annotation) if a is not type(None)]
        return found[0] if found else None
    return annotation if isinstance(annotation, type) and issubclass(annotation, BaseModel) else None


def _declared(model: type[BaseModel], scope: Literal["crate", "workspace"], prefix: tuple[str, ...] = ()
              ) -> list[Setting]:  # fmt: skip
    found = []
    for name, info in model.model_fields.items():
        if model is ConfigFile and (name in CrateSettings.model_fields or name in ("defaults", "crates")):
            continue  # a crate setting also at the top (`toolchain`) is the crate setting's lowest layer
        extra = info.json_schema_extra if isinstance(info.json_schema_extra, dict) else {}
        env = env_name(name) if extra.get("env") else None
        cli = extra.get("cli")
        unset = str(extra.get("unset", "default"))
        found.append(Setting((*prefix, name), scope, info, env, cli if isinstance(cli, str) else None, unset,
                             bool(extra.get("relative"))))  # fmt: skip
        if (inner := _submodel(info.annotation)) is not None:
            found += _declared(inner, scope, (*prefix, name))
    return found


# Every setting, generated from the models: a new field is a new setting, with its variable and
# flag, read by `resolve` and listed by `buildbpf config` without another line elsewhere.
SETTINGS: tuple[Setting, ...] = (*_declared(CrateSettings, "crate"), *_declared(ConfigFile, "workspace"))


def setting(name: str) -> Setting:
    """The setting called `name` (dotted for a key of a table: `linker.cpu`)."""
    for candidate in SETTINGS:
        if candidate.name == name:
            return candidate
    raise KeyError(name)


# --- reading a value from text: the environment and the command line --------------------------


def _parse_bool(raw: str, origin: str) -> bool:
    flag = env_flag({origin: raw}, origin)  # the words every boolean variable takes
    if flag is None:  # empty: a variable is then unset, never parsed; an option is not a boolean
        raise ConfigError(f"{origin}={raw!r} is not a boolean", fix=f"set {origin} to 1/0 or true/false")
    return flag


def _parse_seconds(raw: str, origin: str) -> float:
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds > 0):
        raise ConfigError(
            f"{origin}={raw!r} is not a number of seconds",
            fix=f"set {origin} to a positive number of seconds (e.g. 3600), or unset it",
        )
    return seconds


def _parse_cpu(raw: str, origin: str) -> Cpu:
    try:
        return Cpu(raw)
    except ValueError:
        raise ConfigError(
            f"{origin}={raw!r} is not a BPF cpu", fix=f"use one of {', '.join(c.value for c in Cpu)}"
        ) from None


def parse_targets(raw: str, origin: str) -> list[BpfTarget]:
    """`bpfel`, `bpfeb`, `bpfel,bpfeb` or `all` (a `-unknown-none` suffix is accepted)."""
    names = ["bpfel", "bpfeb"] if raw.strip() == "all" else [t.strip() for t in raw.split(",") if t.strip()]
    try:
        targets = [BpfTarget(n.removesuffix("-unknown-none")) for n in names]
    except ValueError:
        targets = []
    if not targets:  # `,` or ` ` would build no object at all, and say nothing
        raise ConfigError(f"{origin}: {raw!r} is not bpfel, bpfeb or all", fix="use bpfel, bpfeb or all")
    return list(dict.fromkeys(targets))  # `bpfel,bpfel` builds it once


def parse_words(raw: str, origin: str) -> list[str]:
    """A command split as a shell would (`BUILDBPF_RUNNER="sudo -E"`); ConfigError on an
    unclosed quote or a trailing backslash, and on an empty word no program can be named by."""
    try:
        words = shlex.split(raw)
    except ValueError as exc:  # shlex: "No closing quotation", "No escaped character"
        raise ConfigError(
            f"{origin}={raw!r} cannot be split into words as a shell would: {str(exc).lower()}",
            fix=f"close the quote or drop the trailing backslash in {origin} (e.g. {origin}='sudo -E'), "
            "or unset it",
        ) from None
    if "" in words:
        raise ConfigError(
            f"{origin}={raw!r} holds an empty word, which names no program or argument",
            fix=f"remove the empty quotes from {origin}, or unset it",
        )
    return words


# How the text of a variable or an option becomes a value, per type (not per setting).
_PARSERS: dict[Any, Callable[[str, str], Any]] = {
    bool: _parse_bool,
    float: _parse_seconds,
    str: lambda raw, origin: raw,
    Cpu: _parse_cpu,
    list[BpfTarget]: parse_targets,
    list[str]: parse_words,  # BUILDBPF_RUNNER="sudo -E"
}


def _kind(annotation: Any) -> Any:
    """The type a field holds, without `| None` and `Annotated[...]`."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        annotation = next(a for a in typing.get_args(annotation) if a is not type(None))
    while typing.get_origin(annotation) is Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def parse_value(item: Setting, raw: str, origin: str) -> Any:
    """A setting's value from the text of a variable or option (`origin` names it, for errors)."""
    kind = _kind(item.info.annotation)
    if kind not in _PARSERS and isinstance(kind, type) and issubclass(kind, enum.Enum):
        choices = [c.value for c in kind]
        if raw.strip() not in choices:
            raise ConfigError(f"{origin}={raw!r} is not one of {', '.join(choices)}",
                              fix=f"use one of {', '.join(choices)}")  # fmt: skip
        return kind(raw.strip())
    if kind not in _PARSERS:
        raise TypeError(f"{item.name}: no parser for {kind!r}; add one to settings._PARSERS")
    return _PARSERS[kind](raw, origin)


def parse_cli_targets(raw: str | None) -> list[BpfTarget] | None:
    """`--target bpfel|bpfeb|all`."""
    return None if raw is None else parse_targets(raw, "--target")


def cli_overrides(**given: str | None) -> Overrides:
    """The command line's raw option values as `Overrides`, keyed by setting name
    (`cli_overrides(targets="all", toolchain=None)`), each parsed as its variable would be."""
    flagged = {s.path[-1]: s for s in SETTINGS if s.cli is not None}
    values: dict[str, Any] = {}
    for name, raw in given.items():
        if name not in flagged:
            raise TypeError(f"{name} is not a setting with a command-line flag")
        if raw is not None:
            values[name] = parse_value(flagged[name], raw, flagged[name].cli or name)
    return Overrides(**values)


def _file_values(item: Setting, config: LoadedConfig, crate: str | None) -> Iterable[tuple[Any, str]]:
    """The values the file gives a setting, lowest first: top-level key, `[defaults]`, `[crates.NAME]`."""
    name = item.path[0]
    model = config.model
    if name in ConfigFile.model_fields and name in model.model_fields_set:
        found = getattr(model, name)
        if item.relative and found and config.path is not None:
            found = str(config.path.parent / found)
        yield found, config.origin(name)
    if crate is None or item.scope != "crate":
        return
    for prefix, table in ((("defaults",), model.defaults), (("crates", crate), model.crates.get(crate))):
        if table is not None and name in table.model_fields_set and getattr(table, name) is not None:
            yield getattr(table, name), config.origin(*prefix, name)


def _given(item: Setting, source: Source, environ: Mapping[str, str], cli: Overrides | None
           ) -> tuple[Any, str] | None:  # fmt: skip
    """The value the environment or the command line gives a setting, and its origin."""
    if source is Source.ENV and item.env is not None and (raw := environ.get(item.env)):
        return parse_value(item, raw, item.env), item.env  # empty is unset, as for any variable
    if source is Source.CLI and item.cli is not None and cli is not None:
        value = getattr(cli, item.path[-1], None)
        return None if value is None else (value, item.cli)
    return None


def resolve(
    item: Setting,
    config: LoadedConfig,
    environ: Mapping[str, str],
    cli: Overrides | None = None,
    crate: str | None = None,
) -> Value:
    """The value of one setting and where it came from: the field's default < the top-level key <
    `[defaults]` < `[crates.NAME]` (for `crate`) < `BUILDBPF_<FIELD>` < command line.

    A table (`linker`) is merged key by key; its keys' variables and flags override one key.
    """
    value = Value(item.default, Source.DEFAULT, item.unset)
    for found, origin in _file_values(item, config, crate):
        merged = (  # a table: its keys override one by one
            value.value.model_copy(update=found.model_dump(exclude_unset=True))
            if isinstance(found, BaseModel)
            else found
        )
        value = Value(merged, Source.FILE, origin)
    parts = [s for s in SETTINGS if s.path[: len(item.path)] == item.path and s.scope == item.scope]
    for source in (Source.ENV, Source.CLI):
        for part in parts:  # the setting itself first, then the keys of its table
            if (given := _given(part, source, environ, cli)) is None:
                continue
            found, origin = given
            if part is not item:
                found = value.value.model_copy(update={part.path[-1]: found})
            value = Value(found, source, origin)
    return value


def effective(
    crate: str,
    config: LoadedConfig,
    environ: Mapping[str, str] | None = None,
    cli: Overrides | None = None,
) -> Effective:
    """Every setting of one crate, each resolved with its provenance (`resolve`); then the
    linker keys its `min_kernel` needs, where the user left them unset (`kernel_floor`)."""
    from buildbpf.build import kernel_floor

    environ = os.environ if environ is None else environ
    crate_settings = [s for s in SETTINGS if s.scope == "crate" and len(s.path) == 1]
    values = {s.name: resolve(s, config, environ, cli, crate) for s in crate_settings}
    return kernel_floor.apply(Effective(crate, values))


def workspace_value(
    name: str, config: LoadedConfig, environ: Mapping[str, str] | None = None, cli: Overrides | None = None
) -> Value:
    """A workspace-wide setting (`cargo_timeout`, `bpf_linker`, the workspace's `toolchain`)."""
    return resolve(setting(name), config, os.environ if environ is None else environ, cli)


DEFAULT_CARGO_TIMEOUT: float = ConfigFile.model_fields["cargo_timeout"].default


def cargo_timeout(config: LoadedConfig, environ: Mapping[str, str]) -> Value:
    """How long one cargo call may run (`workspace_value("cargo_timeout", ...)`)."""
    return workspace_value("cargo_timeout", config, environ)


# --- the toolchain pins: decided here, once -------------------------------------------------


@dataclass(frozen=True)
class Pins:
    """The toolchain pins in force: the workspace's, and each crate's that names another."""

    workspace: Pin | None
    crates: Mapping[str, Pin] = field(default_factory=dict)


def toolchain_pins(
    config: LoadedConfig | None,
    start: Path | None,
    environ: Mapping[str, str] | None = None,
    cli: Overrides | None = None,
    crates: Iterable[str] = (),
) -> Pins:
    """The one decision of which toolchain builds what.

    The workspace: --toolchain > BUILDBPF_TOOLCHAIN > `toolchain` in the config file (None: not
    read yet) > the nearest rust-toolchain.toml at or above `start`. Each of `crates`: its
    `toolchain` setting (`resolve`, so `[crates.NAME]` > `[defaults]`), when it names another
    toolchain than the one the workspace was explicitly pinned to.
    """
    environ = os.environ if environ is None else environ
    loaded = config if config is not None else LoadedConfig(None, ConfigFile())
    named = resolve(setting("toolchain"), loaded, environ, cli)
    workspace = Pin(named.value, named.origin) if named.value else file_pin(start)
    per_crate = {}
    for crate in crates:
        value = resolve(setting("toolchain"), loaded, environ, cli, crate)
        same = workspace is not None and workspace.explicit and workspace.name == value.value
        if value.value and not same:
            per_crate[crate] = Pin(value.value, value.origin)
    return Pins(workspace, per_crate)


def pin_from(cli: str | None, start: Path | None = None) -> Pin | None:
    """The workspace's pin before its config is read (doctor, setup, check's loader):
    --toolchain > BUILDBPF_TOOLCHAIN > rust-toolchain.toml (`toolchain_pins`)."""
    return toolchain_pins(None, start, os.environ, Overrides(toolchain=cli)).workspace


