"""Which toolchain builds what, decided once (`precedence.toolchain_pins`), and a crate's own
`toolchain` in `[crates.NAME]` is the one its eBPF cargo call uses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from buildbpf.build.precedence import cli_overrides, pin_from, toolchain_pins
from buildbpf.build.settings import load_config
from buildbpf.toolchain.pin import Pin
from tests.unit.fakes import answer_probes, executable, isolate_toolchains, sysroot, workspace_metadata

HOST = "x86_64-unknown-linux-gnu"


def write(root: Path, text: str, name: str = "buildbpf.toml") -> Path:
    (root / name).write_text(text)
    return root


def test_the_workspace_pin_flag_then_variable_then_config_then_toolchain_file(tmp_path: Path) -> None:
    write(tmp_path, '[toolchain]\nchannel = "nightly-2026-01-01"\n', "rust-toolchain.toml")
    assert toolchain_pins(None, tmp_path, {}).workspace == Pin(
        "nightly-2026-01-01", str(tmp_path / "rust-toolchain.toml"), explicit=False
    )
    config = load_config(write(tmp_path, 'toolchain = "nightly-2026-02-02"\n'))
    from_config = Pin("nightly-2026-02-02", "buildbpf.toml:1 toolchain")
    assert toolchain_pins(config, tmp_path, {}).workspace == from_config
    environ = {"BUILDBPF_TOOLCHAIN": "nightly-2026-03-03"}
    from_variable = Pin("nightly-2026-03-03", "BUILDBPF_TOOLCHAIN")
    assert toolchain_pins(config, tmp_path, environ).workspace == from_variable
    cli = cli_overrides(toolchain="nightly-2026-04-04")
    from_flag = Pin("nightly-2026-04-04", "--toolchain")
    assert toolchain_pins(config, tmp_path, environ, cli).workspace == from_flag


def test_pin_from_is_the_same_decision_before_any_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("BUILDBPF_TOOLCHAIN", raising=False)
    assert pin_from(None, tmp_path) is None
    monkeypatch.setenv("BUILDBPF_TOOLCHAIN", "nightly")
    assert pin_from(None, tmp_path) == Pin("nightly", "BUILDBPF_TOOLCHAIN")
    assert pin_from("stable", tmp_path) == Pin("stable", "--toolchain")


def test_crate_pins_name_only_crates_that_differ_from_an_explicit_workspace_pin(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, """\
toolchain = "nightly-2026-02-02"
[crates.a-ebpf]
toolchain = "nightly-2026-05-01"
[crates.b-ebpf]
toolchain = "nightly-2026-02-02"
"""))  # fmt: skip
    pins = toolchain_pins(config, tmp_path, {}, None, ["a-ebpf", "b-ebpf", "c-ebpf"])
    assert pins.crates == {"a-ebpf": Pin("nightly-2026-05-01", "buildbpf.toml:3 crates.a-ebpf.toolchain")}
    # the variable and the flag name one toolchain for every crate: no crate has its own then
    assert toolchain_pins(config, tmp_path, {"BUILDBPF_TOOLCHAIN": "x"}, None, ["a-ebpf"]).crates == {}
    assert toolchain_pins(config, tmp_path, {}, cli_overrides(toolchain="y"), ["a-ebpf"]).crates == {}


def test_a_crate_pin_next_to_a_toolchain_file_is_still_its_own(tmp_path: Path) -> None:
    """A rust-toolchain.toml is a preference; a crate's `toolchain` is explicit and stays strict."""
    write(tmp_path, '[toolchain]\nchannel = "nightly-2026-05-01"\n', "rust-toolchain.toml")
    config = load_config(write(tmp_path, '[defaults]\ntoolchain = "nightly-2026-05-01"\n'))
    pins = toolchain_pins(config, tmp_path, {}, None, ["a-ebpf"])
    assert pins.crates["a-ebpf"].explicit


# --- the build uses it -----------------------------------------------------------------------


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Two rustup nightlies with rust-src (the plain one is what buildbpf picks unpinned), a
    bpf-linker on their LLVM on PATH, and a workspace with two eBPF crates and one userspace."""
    path_bin = tmp_path / "path-bin"
    executable(path_bin / "bpf-linker")
    isolate_toolchains(monkeypatch, tmp_path, [path_bin])
    toolchains = tmp_path / "no-rustup" / "toolchains"
    sysroot(toolchains / f"nightly-{HOST}")
    sysroot(toolchains / f"nightly-2026-05-01-{HOST}")
    answer_probes(monkeypatch)
    root = tmp_path / "ws"
    root.mkdir()
    metadata = workspace_metadata(root, ebpf="a-ebpf", user="app")
    second = workspace_metadata(root, ebpf="b-ebpf")["packages"][0]
    metadata["packages"].append(second)
    metadata["workspace_members"].append(second["id"])
    from buildbpf.cargo import metadata as cargo_metadata

    monkeypatch.setattr(cargo_metadata, "cargo_metadata", lambda rust, cwd: metadata)
    monkeypatch.setattr(cargo_metadata, "outside_metadata", lambda rust, data: [])
    monkeypatch.chdir(root)
    return root


def print_plan(capsys: pytest.CaptureFixture[str], *args: str) -> dict[str, Any]:
    from buildbpf.cli.app import run_cli

    assert run_cli(["build", "--print-plan", *args]) == 0
    return json.loads(capsys.readouterr().out)  # type: ignore[no-any-return]


def cargo_of(plan: dict[str, Any], crate: str) -> tuple[str, str | None]:
    (step,) = [s for s in plan["ebpf"] if crate in s["crates"]]
    return step["cargo"]["argv"][0], step["cargo"]["env_set"].get("RUSTUP_TOOLCHAIN")


def test_a_crates_own_toolchain_builds_that_crate_and_only_it(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    toolchains = machine.parent / "no-rustup" / "toolchains"
    pinned, default = f"nightly-2026-05-01-{HOST}", f"nightly-{HOST}"
    unpinned = print_plan(capsys)
    assert cargo_of(unpinned, "a-ebpf") == (str(toolchains / default / "bin" / "cargo"), default)
    write(machine, '[crates.a-ebpf]\ntoolchain = "nightly-2026-05-01"\n')
    plan = print_plan(capsys)
    assert cargo_of(plan, "a-ebpf") == (str(toolchains / pinned / "bin" / "cargo"), pinned)
    assert cargo_of(plan, "b-ebpf") == (str(toolchains / default / "bin" / "cargo"), default)
    assert plan["userspace"]["cargo"]["argv"][0] == str(toolchains / default / "bin" / "cargo")
    # --toolchain names one toolchain for the whole build: the crate's own gives way
    forced = print_plan(capsys, "--toolchain", "nightly")
    assert cargo_of(forced, "a-ebpf") == (str(toolchains / default / "bin" / "cargo"), default)


def test_a_crates_own_toolchain_that_is_not_installed_is_an_error_naming_the_key(
    machine: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from buildbpf.cli.app import run_cli

    write(machine, '\n[crates.b-ebpf]\ntoolchain = "nightly-2020-01-01"\n')
    assert run_cli(["build", "--print-plan"]) == 3
    err = capsys.readouterr().err
    assert "nightly-2020-01-01 (pinned by buildbpf.toml:3 crates.b-ebpf.toolchain) is not installed" in err
