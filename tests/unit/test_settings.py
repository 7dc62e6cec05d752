"""Settings: precedence with provenance, and errors that name file, line and key."""

from __future__ import annotations

import importlib
import os
import signal
from pathlib import Path

import pytest

from buildbpf.build.config_errors import locate
from buildbpf.build.precedence import cargo_timeout, effective, parse_cli_targets
from buildbpf.build.settings import (
    BpfTarget,
    ConfigFile,
    Cpu,
    Overrides,
    Source,
    Value,
    load_config,
    schema,
)
from buildbpf.errors import ConfigError

CONFIG = """\
# workspace-wide
toolchain = "nightly-2026-05-01"

[defaults]
btf = false
targets = ["bpfel", "bpfeb"]

[crates.probe-ebpf]
opt_level = "2"
linker = { cpu = "v3", unroll_loops = true }
"""


def write(tmp_path: Path, text: str, name: str = "buildbpf.toml") -> Path:
    (tmp_path / name).write_text(text)
    return tmp_path


def test_defaults_without_config(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    eff = effective("probe-ebpf", config, environ={})
    assert config.path is None
    assert eff["targets"] == [BpfTarget.BPFEL]
    assert eff["btf"] is True
    assert eff["opt_level"] == "3"
    assert eff.values["btf"].source is Source.DEFAULT


def test_file_defaults_then_crate_table(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG))
    eff = effective("probe-ebpf", config, environ={})
    assert eff["btf"] is False
    assert eff.values["btf"].origin == "buildbpf.toml:5 defaults.btf"
    assert eff["opt_level"] == "2"
    assert eff.values["opt_level"].origin == "buildbpf.toml:9 crates.probe-ebpf.opt_level"
    assert eff["linker"].cpu is Cpu.V3
    assert eff["linker"].unroll_loops is True
    assert eff["toolchain"] == "nightly-2026-05-01"
    other = effective("other", config, environ={})
    assert other["opt_level"] == "3"  # crate tables do not leak into other crates
    assert other["targets"] == [BpfTarget.BPFEL, BpfTarget.BPFEB]


def test_env_beats_file_and_cli_beats_env(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG))
    environ = {"BUILDBPF_BTF": "1", "BUILDBPF_TARGETS": "bpfeb", "BUILDBPF_TOOLCHAIN": "nightly"}
    eff = effective("probe-ebpf", config, environ=environ)
    assert (eff["btf"], eff.values["btf"].source, eff.values["btf"].origin) == (
        True,
        Source.ENV,
        "BUILDBPF_BTF",
    )
    assert eff["targets"] == [BpfTarget.BPFEB]
    assert eff["toolchain"] == "nightly"
    cli = Overrides(targets=parse_cli_targets("all"), toolchain="nightly-2026-06-01")
    eff = effective("probe-ebpf", config, environ=environ, cli=cli)
    assert eff["targets"] == [BpfTarget.BPFEL, BpfTarget.BPFEB]
    assert eff.values["targets"].source is Source.CLI
    assert eff["toolchain"] == "nightly-2026-06-01"


def test_env_cpu_only_changes_cpu(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, CONFIG))
    eff = effective("probe-ebpf", config, environ={"BUILDBPF_CPU": "v4"})
    assert eff["linker"].cpu is Cpu.V4
    assert eff["linker"].unroll_loops is True


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("[crates.x]\nbtff = true\n", "buildbpf.toml:2: crates.x.btff: unknown key; did you mean `btf`?"),
        ("[crate.x]\nbtf = true\n", "buildbpf.toml:1: crate: unknown key; did you mean `crates`?"),
        ('[defaults.linker]\ncpu = "v9"\n', "buildbpf.toml:2: defaults.linker.cpu: Input should be"),
        ('[defaults]\nbtf = "sometimes"\n', "buildbpf.toml:2: defaults.btf: Input should be a valid boolean"),
        ('[defaults]\ntargets = ["bpfxx"]\n', "buildbpf.toml:2: defaults.targets.0: Input should be"),
        (
            "[defaults]\ncodegen_units = 0\n",
            "defaults.codegen_units: Input should be greater than or equal to 1",
        ),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, text))
    assert expected in caught.value.message
    assert caught.value.exit_code == 2
    assert caught.value.fix


def test_did_you_mean_becomes_the_fix(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as caught:
        load_config(write(tmp_path, '[defaults]\nopt-level = "3"\n'))
    assert caught.value.fix is not None
    assert "rename `opt-level` to `opt_level`" in caught.value.fix


def test_malformed_toml(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"buildbpf\.toml: not valid TOML"):
        load_config(write(tmp_path, "[defaults\nbtf = true\n"))


def test_cargo_metadata_table_and_precedence(tmp_path: Path) -> None:
    write(
        tmp_path,
        "[workspace]\nmembers = []\n\n[workspace.metadata.buildbpf.defaults]\nbtf = false\n",
        "Cargo.toml",
    )
    metadata = {"buildbpf": {"defaults": {"btf": False}}}
    config = load_config(tmp_path, metadata)
    assert config.path == tmp_path / "Cargo.toml"
    eff = effective("x", config, environ={})
    assert eff["btf"] is False
    assert eff.values["btf"].origin == "Cargo.toml:5 defaults.btf"
    write(tmp_path, "[defaults]\nbtf = true\n")
    config = load_config(tmp_path, metadata)
    assert config.path == tmp_path / "buildbpf.toml"  # buildbpf.toml wins
    assert config.ignored == tmp_path / "Cargo.toml"
    assert effective("x", config, environ={})["btf"] is True


def test_metadata_errors_point_into_cargo_toml(tmp_path: Path) -> None:
    text = "[workspace]\n\n[workspace.metadata.buildbpf.defaults]\nbtf = 3\n"
    write(tmp_path, text, "Cargo.toml")
    with pytest.raises(ConfigError, match=r"Cargo\.toml:4: defaults\.btf"):
        load_config(tmp_path, {"buildbpf": {"defaults": {"btf": 3}}})


@pytest.mark.parametrize(
    ("environ", "match"),
    [
        ({"BUILDBPF_BTF": "maybe"}, "BUILDBPF_BTF"),
        ({"BUILDBPF_TARGETS": "x86"}, "BUILDBPF_TARGETS"),
        ({"BUILDBPF_CPU": "v9"}, "BUILDBPF_CPU"),
    ],
)
def test_bad_environment(tmp_path: Path, environ: dict[str, str], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        effective("x", load_config(tmp_path), environ=environ)


def test_locate() -> None:
    text = CONFIG
    assert locate(text, ("toolchain",)) == 2
    assert locate(text, ("crates", "probe-ebpf")) == 8
    assert locate(text, ("crates", "probe-ebpf", "linker", "cpu")) == 10  # inside an inline table
    assert locate(text, ("nowhere",)) is None


def test_every_field_is_documented() -> None:
    def walk(node: object) -> list[str]:
        missing = []
        if isinstance(node, dict):
            for name, prop in node.get("properties", {}).items():
                if "description" not in prop:
                    missing.append(name)
            for value in node.values():
                missing += walk(value)
        return missing

    generated = schema()
    assert generated["title"] == ConfigFile.__name__
    assert walk(generated) == []


# --- what is read, and how (issue #11) -------------------------------------------------------


def test_a_byte_order_mark_is_accepted_like_cargo_does(tmp_path: Path) -> None:
    (tmp_path / "buildbpf.toml").write_bytes(b"\xef\xbb\xbf" + CONFIG.encode())
    config = load_config(tmp_path)
    eff = effective("probe-ebpf", config, environ={})
    assert eff["btf"] is False
    assert eff.values["btf"].origin == "buildbpf.toml:5 defaults.btf"  # line numbers unchanged


@pytest.mark.parametrize("kind", ["directory", "dangling symlink", "FIFO"])
def test_a_config_that_is_not_a_regular_file_is_an_error_not_no_config(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "buildbpf.toml"
    if kind == "directory":
        path.mkdir()
    elif kind == "FIFO":
        os.mkfifo(path)  # reading it would block forever: the alarm fails the test instead
        signal.signal(signal.SIGALRM, lambda *_: pytest.fail("reading the FIFO blocked"))
        signal.alarm(10)
    else:
        path.symlink_to(tmp_path / "moved.toml")
    try:
        with pytest.raises(ConfigError, match=rf"{path} is (a directory|a symbolic link to|a FIFO)"):
            load_config(tmp_path)
    finally:
        signal.alarm(0)


def test_a_huge_config_is_refused(tmp_path: Path) -> None:
    with (tmp_path / "buildbpf.toml").open("wb") as stream:
        stream.truncate(64 << 20)
    with pytest.raises(ConfigError, match=r"larger than 4 MiB"):
        load_config(tmp_path)


def test_deep_nesting_is_a_config_error_not_a_recursion_error(tmp_path: Path) -> None:
    write(tmp_path, "[defaults]\nfeatures = " + "[" * 5000 + "]" * 5000 + "\n")
    with pytest.raises(ConfigError, match=r"buildbpf\.toml: arrays or tables nested too deeply"):
        load_config(tmp_path)


def test_cargo_timeout_default_file_env(tmp_path: Path) -> None:
    assert cargo_timeout(load_config(tmp_path), {}) == Value(3600.0, Source.DEFAULT, "default")
    config = load_config(write(tmp_path, "cargo_timeout = 90\n"))
    assert cargo_timeout(config, {}) == Value(90, Source.FILE, "buildbpf.toml:1 cargo_timeout")
    env = {"BUILDBPF_CARGO_TIMEOUT": "12.5"}
    assert cargo_timeout(config, env) == Value(12.5, Source.ENV, "BUILDBPF_CARGO_TIMEOUT")


@pytest.mark.parametrize("raw", ["abc", "0", "-5", "nan", "inf"])
def test_a_bad_cargo_timeout_names_the_variable(tmp_path: Path, raw: str) -> None:
    with pytest.raises(ConfigError, match=rf"BUILDBPF_CARGO_TIMEOUT='{raw}' is not a number of seconds") as e:
        cargo_timeout(load_config(tmp_path), {"BUILDBPF_CARGO_TIMEOUT": raw})
    assert e.value.fix is not None and "BUILDBPF_CARGO_TIMEOUT" in e.value.fix
    with pytest.raises(ConfigError, match=r"buildbpf\.toml:1: cargo_timeout"):
        load_config(write(tmp_path, 'cargo_timeout = "abc"\n'))


def test_a_bad_cargo_timeout_does_not_break_importing(monkeypatch: pytest.MonkeyPatch) -> None:
    from buildbpf.build import execute

    monkeypatch.setenv("BUILDBPF_CARGO_TIMEOUT", "abc")
    importlib.reload(execute)  # raised ValueError at import time before
