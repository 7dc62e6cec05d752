"""Settings: the pydantic model of `buildbpf.toml`, where values come from, and why one won.

Sources, lowest to highest: built-in defaults < config file < `BUILDBPF_*` environment
< command line. The config file is `buildbpf.toml` at the workspace root or, if that does
not exist, `[workspace.metadata.buildbpf]` in the root `Cargo.toml`; when both exist,
`buildbpf.toml` wins and the other is reported as ignored.
"""

from __future__ import annotations

import difflib
import enum
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, Strict, ValidationError

from buildbpf.environment import env_flag
from buildbpf.errors import ConfigError
from buildbpf.files import BOM, exists, load_toml, read_text


class Source(enum.IntEnum):
    """Where a value came from; a higher source overrides a lower one."""

    DEFAULT = 0
    FILE = 1
    ENV = 2
    CLI = 3


class Role(enum.StrEnum):
    """What a crate is: an eBPF program crate or a userspace (host) crate."""

    EBPF = "ebpf"
    USERSPACE = "userspace"


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


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=False)


class LinkerOptions(_Strict):
    """Options passed to bpf-linker through `-C link-arg=`."""

    cpu: Cpu | None = Field(None, description="BPF processor: generic, probe, v1, v2, v3 or v4.")
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


class CrateSettings(_Strict):
    """Build settings of one crate; every field left out is inherited from `[defaults]`."""

    role: Role | None = Field(
        None, description="`ebpf` or `userspace`; default: detected (a crate depending on aya-ebpf is ebpf)."
    )
    targets: list[BpfTarget] | None = Field(
        None, description="eBPF byte orders to build: bpfel, bpfeb or both (default: bpfel)."
    )
    btf: Bool | None = Field(None, description="Emit BTF (`-C debuginfo=2 -C link-arg=--btf`); default true.")
    debuginfo: Annotated[Int, Field(ge=0, le=2)] | None = Field(
        None, description="`-C debuginfo` level when BTF is off (BTF forces 2)."
    )
    opt_level: OptLevel | None = Field(None, description='Optimisation level for eBPF crates (default "3").')
    lto: Bool | None = Field(None, description="Link-time optimisation (default true).")
    codegen_units: Annotated[Int, Field(ge=1)] | None = Field(
        None, description="Codegen units (default 1: one unit inlines best)."
    )
    build_std: list[Literal["core", "alloc"]] | None = Field(
        None, description='Crates for `-Z build-std` (default ["core"]).'
    )
    linker: LinkerOptions | None = Field(None, description="bpf-linker options.")
    features: list[str] | None = Field(None, description="Cargo features to enable.")
    no_default_features: Bool | None = Field(None, description="Pass `--no-default-features`.")
    rustflags: list[str] | None = Field(None, description="Extra rustflags for this crate's eBPF build.")
    toolchain: str | None = Field(None, description="rustup toolchain pin for this crate.")
    bpf_target_arch: str | None = Field(
        None,
        description="`bpf_target_arch` cfg seen by aya-ebpf (x86_64, aarch64, ...); "
        "default: the arch of the userspace target, never blindly the host.",
    )
    kernels: list[str] | None = Field(
        None,
        description='Kernels `check` and `build --check` verify every program on, under QEMU, e.g. '
        '["5.10", "6.1", "latest"] (see `check --kernel`; the command line wins).',
    )
    min_kernel: str | None = Field(
        None, description='The oldest kernel you deploy to, e.g. "5.10": always among the kernels checked.'
    )


class ConfigFile(_Strict):
    """The whole `buildbpf.toml` (or `[workspace.metadata.buildbpf]`)."""

    toolchain: str | None = Field(None, description="rustup toolchain pin for every eBPF crate.")
    bpf_linker: str | None = Field(
        None,
        description="Path to bpf-linker, relative to this file's directory; used or refused, never "
        "replaced by another (env BUILDBPF_BPF_LINKER and --bpf-linker win over it).",
    )
    cargo_timeout: Seconds | None = Field(
        None,
        description="Seconds one cargo call may run before buildbpf stops it (default 3600; "
        "env BUILDBPF_CARGO_TIMEOUT).",
    )
    defaults: CrateSettings = Field(
        default_factory=CrateSettings, description="Settings every crate inherits."
    )
    crates: dict[str, CrateSettings] = Field(
        default_factory=dict, description="Per-crate settings, keyed by package name."
    )


# Built-in defaults: what the verifier needs (PITFALLS #6, #10).
DEFAULTS: dict[str, Any] = {
    "targets": [BpfTarget.BPFEL],
    "btf": True,
    "debuginfo": 2,
    "opt_level": "3",
    "lto": True,
    "codegen_units": 1,
    "build_std": ["core"],
    "linker": LinkerOptions(),
    "features": [],
    "no_default_features": False,
    "rustflags": [],
}


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
    """Values given on the command line."""

    targets: list[BpfTarget] | None = None
    toolchain: str | None = None
    bpf_linker: str | None = None


@dataclass(frozen=True)
class LoadedConfig:
    """A parsed config file with the text it came from (for line numbers)."""

    path: Path | None
    model: ConfigFile
    text: str = ""
    table_prefix: tuple[str, ...] = ()
    ignored: Path | None = None

    def origin(self, *key: str) -> str:
        if self.path is None:
            return "default"
        dotted = ".".join(key)
        line = locate(self.text, (*self.table_prefix, *key))
        return f"{self.path.name}:{line} {dotted}" if line else f"{self.path.name} {dotted}"


def locate(text: str, key: tuple[str, ...]) -> int | None:
    """Best-effort line number of a dotted key in TOML text (tables, dotted keys, inline)."""
    lines = text.splitlines()
    table: tuple[str, ...] = ()
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    assign = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+?)\s*=")
    best: int | None = None
    for number, line in enumerate(lines, 1):
        if match := header.match(line):
            table = tuple(_split_key(match[1]))
            if table == key:
                return number
            if table[: len(key)] == key and best is None:
                best = number  # `[crate.x]` holds the unknown key `crate`
            continue
        if match := assign.match(line):
            full = (*table, *_split_key(match[1]))
            if full == key:
                return number
            if key[: len(full)] == full and best is None:
                best = number  # an inline table holding the key
    return best


def _split_key(raw: str) -> list[str]:
    return [
        part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", raw)
    ]


def _known_fields(model: type[BaseModel]) -> list[str]:
    return list(model.model_fields)


def _model_at(loc: tuple[Any, ...]) -> type[BaseModel]:
    """Which model a validation error location points into (for did-you-mean)."""
    model: type[BaseModel] = ConfigFile
    rest = list(loc[:-1])
    while rest:
        part = rest.pop(0)
        if model is ConfigFile and part == "crates":
            if rest:
                rest.pop(0)  # the crate name
            model = CrateSettings
        elif model is ConfigFile and part == "defaults":
            model = CrateSettings
        elif model is CrateSettings and part == "linker":
            model = LinkerOptions
    return model


def format_validation(error: ValidationError, config: LoadedConfig) -> ConfigError:
    """One ConfigError listing every problem as `file:line: key: message (did you mean ...)`."""
    lines = []
    first_fix = None
    for item in error.errors():
        loc = tuple(str(p) for p in item["loc"])
        dotted = ".".join(loc)
        where = config.path.name if config.path else "config"
        line = locate(config.text, (*config.table_prefix, *loc))
        position = f"{where}:{line}" if line else where
        if item["type"] == "extra_forbidden":
            known = _known_fields(_model_at(tuple(item["loc"])))
            guess = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f"; did you mean `{guess[0]}`?" if guess else f"; known keys: {', '.join(known)}"
            lines.append(f"{position}: {dotted}: unknown key{hint}")
            if guess and first_fix is None:
                first_fix = f"rename `{loc[-1]}` to `{guess[0]}` in {config.path}"
        else:
            lines.append(f"{position}: {dotted}: {item['msg']}")
    return ConfigError(
        "invalid configuration:\n  " + "\n  ".join(lines),
        fix=first_fix or f"correct {config.path} (see `buildbpf schema` for every key)",
    )


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
        raise format_validation(exc, loaded) from None
    return LoadedConfig(loaded.path, model, loaded.text, loaded.table_prefix, loaded.ignored)


def _env_values(environ: Mapping[str, str]) -> dict[str, tuple[Any, str]]:
    """Workspace-wide overrides from `BUILDBPF_*` variables."""
    found: dict[str, tuple[Any, str]] = {}
    if raw := environ.get("BUILDBPF_TARGETS"):
        found["targets"] = (_parse_targets(raw, "BUILDBPF_TARGETS"), "BUILDBPF_TARGETS")
    if (btf := env_flag(environ, "BUILDBPF_BTF")) is not None:
        found["btf"] = (btf, "BUILDBPF_BTF")
    if raw := environ.get("BUILDBPF_CPU"):
        try:
            found["linker.cpu"] = (Cpu(raw), "BUILDBPF_CPU")
        except ValueError:
            raise ConfigError(
                f"BUILDBPF_CPU={raw!r} is not a BPF cpu", fix=f"use one of {', '.join(c.value for c in Cpu)}"
            ) from None
    return found


DEFAULT_CARGO_TIMEOUT = 3600.0
CARGO_TIMEOUT_ENV = "BUILDBPF_CARGO_TIMEOUT"


def cargo_timeout(config: LoadedConfig, environ: Mapping[str, str]) -> Value:
    """How long one cargo call may run: default < `cargo_timeout` in the file < env."""
    if raw := environ.get(CARGO_TIMEOUT_ENV):
        try:
            seconds = float(raw)
        except ValueError:
            seconds = math.nan
        if not (math.isfinite(seconds) and seconds > 0):
            raise ConfigError(
                f"{CARGO_TIMEOUT_ENV}={raw!r} is not a number of seconds",
                fix=f"set {CARGO_TIMEOUT_ENV} to a positive number of seconds (e.g. 3600), or unset it",
            )
        return Value(seconds, Source.ENV, CARGO_TIMEOUT_ENV)
    if config.model.cargo_timeout is not None:
        return Value(config.model.cargo_timeout, Source.FILE, config.origin("cargo_timeout"))
    return Value(DEFAULT_CARGO_TIMEOUT, Source.DEFAULT, "default")


def _parse_targets(raw: str, origin: str) -> list[BpfTarget]:
    names = ["bpfel", "bpfeb"] if raw.strip() == "all" else [t.strip() for t in raw.split(",") if t.strip()]
    try:
        targets = [BpfTarget(n.removesuffix("-unknown-none")) for n in names]
    except ValueError:
        targets = []
    if not targets:  # `,` or ` ` would build no object at all, and say nothing
        raise ConfigError(f"{origin}: {raw!r} is not bpfel, bpfeb or all", fix="use bpfel, bpfeb or all")
    return list(dict.fromkeys(targets))  # `bpfel,bpfel` builds it once


def parse_cli_targets(raw: str | None) -> list[BpfTarget] | None:
    """`--target bpfel|bpfeb|all`."""
    return None if raw is None else _parse_targets(raw, "--target")


def effective(
    crate: str,
    config: LoadedConfig,
    environ: Mapping[str, str] | None = None,
    cli: Overrides | None = None,
) -> Effective:
    """Merge defaults < file ([defaults], then [crates.NAME]) < env < CLI for one crate."""
    environ = os.environ if environ is None else environ
    values: dict[str, Value] = {k: Value(v, Source.DEFAULT, "default") for k, v in DEFAULTS.items()}
    values["role"] = Value(None, Source.DEFAULT, "detected")
    values["toolchain"] = Value(None, Source.DEFAULT, "auto-detected")
    values["bpf_target_arch"] = Value(None, Source.DEFAULT, "userspace target")
    if config.model.toolchain is not None:
        values["toolchain"] = Value(config.model.toolchain, Source.FILE, config.origin("toolchain"))
    for table, settings in (("defaults", config.model.defaults), ("crates", config.model.crates.get(crate))):
        if settings is None:
            continue
        prefix = ("defaults",) if table == "defaults" else ("crates", crate)
        for name in settings.model_fields_set:
            value = getattr(settings, name)
            if name == "linker" and value is not None:
                merged = values["linker"].value.model_copy(update=value.model_dump(exclude_unset=True))
                values["linker"] = Value(merged, Source.FILE, config.origin(*prefix, "linker"))
            elif value is not None:
                values[name] = Value(value, Source.FILE, config.origin(*prefix, name))
    for name, (value, origin) in _env_values(environ).items():
        if name == "linker.cpu":
            values["linker"] = Value(
                values["linker"].value.model_copy(update={"cpu": value}), Source.ENV, origin
            )
        else:
            values[name] = Value(value, Source.ENV, origin)
    if env_toolchain := environ.get("BUILDBPF_TOOLCHAIN"):
        values["toolchain"] = Value(env_toolchain, Source.ENV, "BUILDBPF_TOOLCHAIN")
    if cli is not None:
        if cli.targets is not None:
            values["targets"] = Value(cli.targets, Source.CLI, "--target")
        if cli.toolchain is not None:
            values["toolchain"] = Value(cli.toolchain, Source.CLI, "--toolchain")
    return Effective(crate, values)


@dataclass
class Explanation:
    """`buildbpf config`: effective settings per crate and where each came from."""

    config_path: Path | None
    ignored: Path | None
    crates: list[Effective] = field(default_factory=list)


def configured_kernels(effective: Effective) -> list[str]:
    """The kernels a crate's settings ask `check` to verify on: `min_kernel` first, then `kernels`."""
    values = effective.values
    wanted = list(values["kernels"].value or []) if "kernels" in values else []
    if "min_kernel" in values and values["min_kernel"].value not in (None, *wanted):
        wanted.insert(0, values["min_kernel"].value)
    return wanted


def describe(value: Any) -> Any:
    """A JSON-friendly rendering of a settings value."""
    if isinstance(value, BaseModel):
        return value.model_dump(mode="json", exclude_none=True)
    if isinstance(value, list):
        return [describe(v) for v in value]
    if isinstance(value, enum.Enum):
        return value.value
    return value


def schema() -> dict[str, Any]:
    """The JSON schema of `buildbpf.toml`, generated from the model."""
    return ConfigFile.model_json_schema()
