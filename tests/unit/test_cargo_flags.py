"""cargo's usual flags reach the calls they belong to, and only those."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildbpf.build.settings import load_config
from buildbpf.build.steps import BuildOptions
from buildbpf.cli.options import cargo_options
from tests.unit.test_plan import check_golden, plan_json

EVERY = BuildOptions(
    release=True,
    features=("tls", "json"),
    no_default_features=True,
    target_dir=Path("/elsewhere/target"),
    locked=True,
    offline=True,
    frozen=True,
    jobs=3,
)


def test_flags_in_the_plan(tmp_path: Path) -> None:
    (tmp_path / "buildbpf.toml").write_text('[crates.probe-ebpf]\nfeatures = ["trace"]\n')
    text = plan_json(load_config(tmp_path), environ={}, options=EVERY)
    check_golden("plan-cargo-flags.json", text)
    plan = json.loads(text)
    (ebpf,) = plan["ebpf"]
    ebpf_argv = ebpf["cargo"]["argv"]
    user_argv = plan["userspace"]["cargo"]["argv"]
    # userspace: every flag, before the message format buildbpf reads
    common = ["--target-dir", "/elsewhere/target", "--locked", "--offline", "--frozen", "-j", "3"]
    tail = user_argv[user_argv.index("--release") + 1 :]
    assert tail[: 3 + len(common)] == ["--features", "tls,json", "--no-default-features", *common]
    assert user_argv[-2:] == ["--message-format", "json-render-diagnostics"]
    # eBPF: the common flags, but its features are its own (buildbpf.toml), never userspace's
    assert ebpf_argv[ebpf_argv.index("--features") + 1] == "trace"
    assert "tls,json" not in ebpf_argv and "--no-default-features" not in ebpf_argv
    start = ebpf_argv.index("--target-dir")
    assert ebpf_argv[start : start + len(common)] == common
    # the objects are published under the given target dir, where userspace embeds them from
    assert ebpf["objects_dir"] == "/elsewhere/target/buildbpf/bpfel-unknown-none"
    assert plan["userspace"]["cargo"]["env_set"]["BUILDBPF_OBJECTS"] == ebpf["objects_dir"]


def test_no_flags_no_change(tmp_path: Path) -> None:
    assert BuildOptions().cargo_flags(userspace=True) == []
    plain = json.loads(plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True)))
    for call in (plain["ebpf"][0]["cargo"], plain["userspace"]["cargo"]):
        assert not {"--target-dir", "--locked", "--offline", "--frozen", "-j"} & set(call["argv"])


def test_an_outside_crate_keeps_its_own_target_dir() -> None:
    flags = EVERY.cargo_flags(userspace=False, own_target_dir=True)
    assert flags == ["--locked", "--offline", "--frozen", "-j", "3"]


def test_command_line_values(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    given = cargo_options(features=["a,b", "c d"], no_default_features=False, target_dir=Path("out"),
                          locked=True, offline=False, frozen=False, jobs=2)  # fmt: skip
    assert given["features"] == ("a", "b", "c", "d")
    assert given["target_dir"] == tmp_path / "out"  # relative to where buildbpf runs, as for cargo
    options = BuildOptions(**given)
    assert options.cargo_flags(userspace=True) == [
        "--features", "a,b,c,d", "--target-dir", str(tmp_path / "out"), "--locked", "-j", "2",
    ]  # fmt: skip
