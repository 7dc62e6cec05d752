"""Optional dependencies turned on by features, as cargo decides it (aya-build behind a feature)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.build.settings import load_config
from buildbpf.cargo.features import requested, turns_on
from buildbpf.cargo.workspace import from_metadata
from tests.unit.test_plan import metadata

TABLE = {
    "default": ["std"],
    "std": [],
    "build-ebpf": ["dep:aya-build"],
    "all": ["build-ebpf", "std"],
    "weak": ["aya-build?/x"],
    "strong": ["aya-build/x"],
}


@pytest.mark.parametrize(
    ("features", "default", "on"),
    [
        ([], True, False),
        (["build-ebpf"], True, True),
        (["all"], False, True),  # through another feature
        (["weak"], True, False),  # NAME?/FEATURE does not turn NAME on
        (["strong"], True, True),
        (["aya-build"], True, True),  # the dependency's own name
        (["std"], False, False),
    ],
)
def test_turns_on(features: list[str], default: bool, on: bool) -> None:
    assert turns_on(TABLE, "aya-build", features, default=default) is on


def test_default_features_count_unless_turned_off() -> None:
    table = {"default": ["build-ebpf"], "build-ebpf": ["dep:aya-build"]}
    assert turns_on(table, "aya-build", [])
    assert not turns_on(table, "aya-build", [], default=False)


def test_requested_splits_and_keeps_this_package_s_features() -> None:
    assert requested("probe", ["a,b c", "probe/d", "other/e"]) == ["a", "b", "c", "d"]


def test_aya_build_behind_a_feature_builds_only_when_it_is_on(tmp_path: Path) -> None:
    # etherip-xdp's habit: aya-build optional, behind `build-ebpf`; off, a committed object is embedded
    data = metadata()
    packages = data["packages"]
    assert isinstance(packages, list)
    probe = next(p for p in packages if p["name"] == "probe")
    probe["dependencies"] += [
        {"name": "aya-build", "kind": "build", "optional": True},
        {"name": "probe-ebpf", "kind": "build"},
    ]
    probe["features"] = {"build-ebpf": ["dep:aya-build"]}
    workspace = from_metadata(data, load_config(tmp_path))
    assert workspace.built_by_aya_build() == []  # buildbpf builds probe-ebpf itself
    assert [c.name for c in workspace.built_by_aya_build(["build-ebpf"])] == ["probe-ebpf"]
    assert [c.name for c in workspace.built_by_aya_build(["probe/build-ebpf"])] == ["probe-ebpf"]
    # not optional: always
    probe["dependencies"][-2]["optional"] = False
    assert [c.name for c in from_metadata(data, load_config(tmp_path)).built_by_aya_build()] == ["probe-ebpf"]
