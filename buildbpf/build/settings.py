"""Settings: the pydantic model of `buildbpf.toml`, where values come from, and why one won.

Each setting is declared once, as a field of the model: its default, its description, and
(`_sources`) its `BUILDBPF_<FIELD>` variable and command-line flag. Sources, lowest to
highest (`precedence.resolve`, the one place that decides): the field's default < the
top-level key < `[defaults]` < `[crates.NAME]` < `BUILDBPF_*` environment < command line.

The config file is `buildbpf.toml` at the workspace root or, if that does not exist,
`[workspace.metadata.buildbpf]` in the root `Cargo.toml`; when both exist, `buildbpf.toml`
wins and the other is reported as ignored.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from buildbpf._fs import BOM, exists, load_toml, read_text
from buildbpf.build.config_errors import format_validation, locate
from buildbpf.cargo.workspace import Role


class Source(enum.IntEnum):
    """Where a value came from; a higher source overrides a lower one."""

    DEFAULT = 0
    FILE = 1
    ENV = 2
    CLI = 3


class BpfTarget(enum.StrEnum):
    """Byte order of the eBPF object: little endian (x86_64, arm64) or big endian (s390x)."""

    BPFEL = "bpfel"
    BPFEB = "bpfeb"

    @property
    def triple(self) -> str:
        return f"{self.value}-unknown-none"


class Cpu(enum.StrEnum):
    """BPF ISA version for bpf-linker `--cpu` (v4 needs kernel 6.6+ for signed division)."""

    GENERIC = "generic"
    PROBE = "probe"
    V1 = "v1"
    V2 = "v2"
    V3 = "v3"
    V4 = "v4"


# TOML has real booleans and integers: "yes" or "3" where one is expected is a mistake.
Bool = Annotated[bool, Strict()]
Int = Annotated[int, Strict()]
Seconds = Annotated[float, Strict(), Field(gt=0, allow_inf_nan=False)]


def _sources(
    *, env: bool = False, cli: str | None = None, unset: str | None = None, relative: bool = False
) -> dict[str, Any]:
    """Where a setting may come from besides the file, declared on its field: `env` reads
    `BUILDBPF_<FIELD>` (`env_name`), `cli` is its command-line flag, `unset` says what no value
    means, `relative` marks a path read relative to the file's directory. All show in
    `buildbpf schema` (`env` as the variable's name)."""
    extra: dict[str, Any] = {"env": env}
    if cli is not None:
        extra["cli"] = cli
    if unset is not None:
        extra["unset"] = unset
    if relative:
        extra["relative"] = True
    return extra


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)


class LinkerOptions(_Strict):
    """Options passed to bpf-linker through `-C link-arg=`."""

    cpu: Cpu | None = Field(
        None,
        description="BPF processor: generic, probe, v1, v2, v3 or v4.",
        json_schema_extra=_sources(env=True),
    )
    cpu_features: list[str] | None = Field(
        None, description='CPU features for `--cpu-features`, e.g. ["+alu32"].'
    )
    unroll_loops: Bool | None = Field(
        None, description="Pass `--unroll-loops` (for kernels without bounded-loop support)."
    )
    ignore_inline_never: Bool | None = Field(
        None, description="Pass `--ignore-inline-never` (for kernels without BPF-to-BPF calls)."
    )
    extra_args: list[str] | None = Field(None, description="More bpf-linker arguments, verbatim.")


OptLevel = Literal["0", "1", "2", "3", "s", "z"]


# The built-in defaults are what the verifier needs (PITFALLS #6, #10).
class CrateSettings(_Strict):
    """Build settings of one crate; every field left out is inherited from `[defaults]`."""

    role: Role | None = Field(
        None,
        description="`ebpf` or `userspace`; default: detected (a crate depending on aya-ebpf is ebpf).",
        json_schema_extra=_sources(unset="detected"),
    )
    targets: list[BpfTarget] = Field(
        [BpfTarget.BPFEL],
        description="eBPF byte orders to build: bpfel, bpfeb or both.",
        json_schema_extra=_sources(env=True, cli="--target"),
    )
    btf: Bool = Field(
        True,
        description="Emit BTF (`-C debuginfo=2 -C link-arg=--btf`).",
        json_schema_extra=_sources(env=True),
    )
    debuginfo: Annotated[Int, Field(ge=0, le=2)] = Field(
        2, description="`-C debuginfo` level when BTF is off (BTF forces 2)."
    )
    opt_level: OptLevel = Field("3", description="Optimisation level for eBPF crates.")
    lto: Bool = Field(True, description="Link-time optimisation.")
    codegen_units: Annotated[Int, Field(ge=1)] = Field(
        1, description="Codegen units (one unit inlines best)."
    )
    build_std: list[Literal["core", "alloc"]] = Field(["core"], description="Crates for `-Z build-std`.")
    linker: LinkerOptions = Field(default_factory=LinkerOptions, description="bpf-linker options.")
    features: list[str] = Field([], description="Cargo features to enable.")
    no_default_features: Bool = Field(False, description="Pass `--no-default-features`.")
    rustflags: list[str] = Field([], description="Extra rustflags for this crate's eBPF build.")
    toolchain: str | None = Field(
        None,
        description="rustup toolchain pin for this crate.",
        json_schema_extra=_sources(env=True, cli="--toolchain", unset="auto-detected"),
    )
    bpf_target_arch: str | None = Field(
        None,
        description="`bpf_target_arch` cfg seen by aya-ebpf (x86_64, aarch64, ...); "
        "default: the arch of the userspace target, never blindly the host.",
        json_schema_extra=_sources(unset="userspace target"),
    )
    kernels: list[str] = Field(
        [],
        description='Kernels `check` and `build --check` verify every program on, under QEMU, e.g. '
        '["5.10", "6.1", "latest"] (see `check --kernel`; the command line wins).',
    )
    min_kernel: str | None = Field(
        None,
        description='The oldest kernel you deploy to, e.g. "5.10": always among the kernels checked.',
        json_schema_extra=_sources(unset="none"),
    )


def configured_kernels(effective: Effective) -> list[str]:
    """The kernels a crate's settings ask `check` to verify on: `min_kernel` first, then `kernels`."""
    values = effective.values
    wanted = list(values["kernels"].value or []) if "kernels" in values else []
    if "min_kernel" in values and values["min_kernel"].value not in (None, *wanted):
        wanted.insert(0, values["min_kernel"].value)
    return wanted


class ConfigFile(_Strict):
    """The whole `buildbpf.toml` (or `[workspace.metadata.buildbpf]`)."""

    toolchain: str | None = Field(
        None,
        description="rustup toolchain pin for every eBPF crate.",
        json_schema_extra=_sources(env=True, cli="--toolchain", unset="auto-detected"),
    )
    bpf_linker: str | None = Field(
        None,
        description="Path to bpf-linker, relative to this file's directory; used or refused, never "
        "replaced by another.",
        json_schema_extra=_sources(env=True, cli="--bpf-linker", unset="auto-detected", relative=True),
    )
    cargo_timeout: Seconds = Field(
        3600.0,
        description="Seconds one cargo call may run before buildbpf stops it.",
        json_schema_extra=_sources(env=True),
    )
    runner: list[str] | None = Field(
        None,
        description="Command `buildbpf run` starts the userspace binary with, like cargo's "
        '`target.<triple>.runner` (e.g. ["sudo", "-E"]; [] runs it directly); default: directly '
        "as root, else `sudo -E`. BUILDBPF_RUNNER is split as a shell would.",
        json_schema_extra=_sources(env=True, unset="directly as root, else sudo -E"),
    )
    write_config: Bool = Field(
        True,
        description="Write each eBPF crate's `.cargo/config.toml` (plain `cargo build` and editors then "
        "work in that crate; kept out of `git status` through the repository's info/exclude). buildbpf "
        "passes every setting on cargo's command line either way.",
        json_schema_extra=_sources(env=True),
    )
    defaults: CrateSettings = Field(
        default_factory=CrateSettings, description="Settings every crate inherits."
    )
    crates: dict[str, CrateSettings] = Field(
        default_factory=dict, description="Per-crate settings, keyed by package name."
    )


@dataclass(frozen=True)
class LoadedConfig:
    """A parsed config file with the text it came from (for line numbers)."""

    path: Path | None
    model: ConfigFile
    text: str = ""
    table_prefix: tuple[str, ...] = ()
    ignored: Path | None = None

    def declared_roles(self) -> dict[str, Role | None]:
        """Each `[crates.NAME]` of the config, with its `role` if it sets one."""
        return {name: crate.role for name, crate in self.model.crates.items()}

    def origin(self, *key: str) -> str:
        if self.path is None:
            return "default"
        dotted = ".".join(key)
        line = locate(self.text, (*self.table_prefix, *key))
        return f"{self.path.name}:{line} {dotted}" if line else f"{self.path.name} {dotted}"


def load_config(workspace_root: Path, cargo_metadata: Mapping[str, Any] | None = None) -> LoadedConfig:
    """Read `buildbpf.toml` or `[workspace.metadata.buildbpf]`; ConfigError on any problem."""
    path = workspace_root / "buildbpf.toml"
    cargo_toml = workspace_root / "Cargo.toml"
    metadata = (cargo_metadata or {}).get("buildbpf") if cargo_metadata else None
    if exists(path):  # a directory, FIFO or dangling link there is an error, not "no config"
        data, text = load_toml(path, what="buildbpf config", fix=f"fix the syntax in {path}")
        loaded = LoadedConfig(path, ConfigFile(), text, (), cargo_toml if metadata is not None else None)
        return _validate(data, loaded)
    if metadata is not None:
        text = read_text(cargo_toml, what="manifest").removeprefix(BOM) if exists(cargo_toml) else ""
        loaded = LoadedConfig(cargo_toml, ConfigFile(), text, ("workspace", "metadata", "buildbpf"))
        return _validate(metadata, loaded)
    return LoadedConfig(None, ConfigFile())


def _validate(data: Any, loaded: LoadedConfig) -> LoadedConfig:
    try:
        model = ConfigFile.model_validate(data)
    except ValidationError as exc:
        raise format_validation(exc, ConfigFile, loaded.path, loaded.text, loaded.table_prefix) from None
    return LoadedConfig(loaded.path, model, loaded.text, loaded.table_prefix, loaded.ignored)


@dataclass(frozen=True)
class Value:
    """An effective value and where it came from."""

    value: Any
    source: Source
    origin: str  # "buildbpf.toml:12 crates.probe-ebpf.btf", "BUILDBPF_BTF", "--target"


@dataclass(frozen=True)
class Effective:
    """Effective settings of one crate, each with its provenance."""

    crate: str
    values: Mapping[str, Value]

    def __getitem__(self, name: str) -> Any:
        return self.values[name].value


@dataclass
class Overrides:
    """Values given on the command line, parsed (`precedence.cli_overrides`); one field per
    setting with a flag, named after the setting's field."""

    targets: list[BpfTarget] | None = None
    toolchain: str | None = None
    bpf_linker: str | None = None


def describe(value: Any) -> Any:
    """A JSON-friendly rendering of a settings value."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [describe(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def env_name(field_name: str) -> str:
    """The variable a setting is read from: `BUILDBPF_` and its field's name in capitals."""
    return "BUILDBPF_" + field_name.upper()


def _name_variables(node: Any) -> None:
    """In a generated schema, `"env": true` becomes the variable's name; `false` goes."""
    if isinstance(node, dict):
        for name, prop in node.get("properties", {}).items():
            if isinstance(prop, dict) and "env" in prop:
                if prop["env"] is True:
                    prop["env"] = env_name(name)
                else:
                    del prop["env"]
        for child in node.values():
            _name_variables(child)
    elif isinstance(node, list):
        for child in node:
            _name_variables(child)


def schema() -> dict[str, Any]:
    """The JSON schema of `buildbpf.toml`, generated from the model (defaults, variables, flags)."""
    generated = ConfigFile.model_json_schema()
    _name_variables(generated)
    return generated
