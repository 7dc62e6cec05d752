"""Which crates are eBPF build roots, and eBPF crates found outside the root workspace."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from buildbpf.build.plan import no_ebpf_crate
from buildbpf.build.settings import load_config
from buildbpf.cargo.workspace import from_metadata, outside_candidates
from buildbpf.errors import ConfigError


def package(root: Path, name: str, deps: list[str], kinds: list[str]) -> dict[str, Any]:
    return {
        "id": f"path+file://{root / name}#{name}@0.1.0",
        "name": name,
        "manifest_path": str(root / name / "Cargo.toml"),
        "edition": "2024",
        "dependencies": [{"name": d, "kind": None} for d in deps],
        "targets": [{"name": name, "kind": [k]} for k in kinds],
    }


def metadata(root: Path, *packages: dict[str, Any]) -> dict[str, Any]:
    return {
        "packages": list(packages),
        "workspace_members": [p["id"] for p in packages],
        "workspace_root": str(root),
        "target_directory": str(root / "target"),
    }


def test_libraries_using_aya_ebpf_are_not_build_roots(tmp_path: Path) -> None:
    data = metadata(
        tmp_path,
        package(tmp_path, "x-common", ["aya-ebpf"], ["lib"]),  # aya-ebpf behind a feature
        package(tmp_path, "aya-log-ebpf", ["aya-ebpf"], ["lib"]),
        package(tmp_path, "x-ebpf", ["aya-ebpf", "x-common"], ["lib", "bin"]),  # the template's lib + bin
        package(tmp_path, "x", ["aya", "x-common"], ["bin"]),
    )
    workspace = from_metadata(data, load_config(tmp_path / "no-config"))
    assert [c.name for c in workspace.ebpf_roots()] == ["x-ebpf"]
    assert [c.name for c in workspace.userspace()] == ["x"]
    assert workspace.ebpf_roots()[0].edition == "2024"


def test_only_libraries_is_said_plainly(tmp_path: Path) -> None:
    data = metadata(tmp_path, package(tmp_path, "x-common", ["aya-ebpf"], ["lib"]),
                    package(tmp_path, "x", ["aya"], ["bin"]))  # fmt: skip
    error = no_ebpf_crate(from_metadata(data, load_config(tmp_path / "no-config")))
    assert isinstance(error, ConfigError)
    assert "x-common depends on aya-ebpf but is a library" in error.message


@pytest.mark.parametrize("dependency", ['aya-ebpf = "0.1"', 'aya-bpf = { git = "https://x/aya" }',
                                        'bpf = { package = "aya-ebpf", version = "0.1" }'])  # fmt: skip
def test_outside_crates_are_found(tmp_path: Path, dependency: str) -> None:
    (tmp_path / "Cargo.toml").write_text('[workspace]\nmembers = ["x"]\n')
    layout = (("x", 'aya = "0.13"'), ("x-ebpf", dependency), ("docs", ""), ("nested/y-ebpf", dependency))
    for name, deps in layout:
        (tmp_path / name).mkdir(parents=True)
        (tmp_path / name / "Cargo.toml").write_text(f'[package]\nname = "n"\n\n[dependencies]\n{deps}\n')
    (tmp_path / "target" / "z-ebpf").mkdir(parents=True)  # never looked into
    (tmp_path / "target" / "z-ebpf" / "Cargo.toml").write_text(f"[dependencies]\n{dependency}\n")
    found = outside_candidates(tmp_path, [tmp_path / "x"])
    assert found == [tmp_path / "nested" / "y-ebpf", tmp_path / "x-ebpf"]


def test_outside_crate_joins_the_workspace_with_its_own_target_dir(tmp_path: Path) -> None:
    root = metadata(tmp_path, package(tmp_path, "x", ["aya"], ["bin"]))
    ebpf_dir = tmp_path / "x-ebpf"
    outside = metadata(ebpf_dir.parent, package(tmp_path, "x-ebpf", ["aya-ebpf"], ["bin"]))
    outside["workspace_root"] = str(ebpf_dir)
    outside["target_directory"] = str(tmp_path / "target")  # its config: target-dir = "../target"
    workspace = from_metadata(root, load_config(tmp_path / "no-config"), [outside])
    [crate] = workspace.ebpf_roots()
    assert (crate.name, crate.outside, crate.own_target_dir) == ("x-ebpf", ebpf_dir, tmp_path / "target")
    assert [c.name for c in workspace.userspace()] == ["x"]


@pytest.mark.parametrize("release", [True, False])
def test_outside_crates_with_the_default_target_dir_share_one(tmp_path: Path, release: bool) -> None:
    from buildbpf.build.plan import plan_build
    from buildbpf.build.precedence import effective
    from buildbpf.build.steps import BuildOptions

    # one workspace per program under crates/ebpf-programs, one with `target-dir = "../../../target"`
    root = metadata(tmp_path, package(tmp_path, "x", ["aya"], ["bin"]))
    programs = tmp_path / "crates" / "ebpf-programs"
    outside = []
    for name, target_dir in (("one", programs / "one" / "target"), ("two", programs / "two" / "target"),
                             ("three", tmp_path / "target")):  # fmt: skip
        data = metadata(programs, package(programs, name, ["aya-ebpf"], ["bin"]))
        data["workspace_root"], data["target_directory"] = str(programs / name), str(target_dir)
        outside.append(data)
    config = load_config(tmp_path / "no-config")
    workspace = from_metadata(root, config, outside)
    settings = {c.name: effective(c.name, config, environ={}) for c in workspace.crates}
    plan = plan_build(workspace, settings, cargo=Path("/usr/bin/cargo"), cargo_env={}, linker=Path("/l"),
                      userspace_triple="x86_64-unknown-linux-gnu", options=BuildOptions(release=release),
                      environ={})  # fmt: skip
    steps = {s.crates[0]: s for s in plan.ebpf}
    profile = "release" if release else "debug"
    for name in ("one", "two"):
        argv = steps[name].call.argv
        assert argv[argv.index("--target-dir") + 1] == str(tmp_path / "target")
        own = programs / name / "target" / "bpfel-unknown-none"
        assert set(steps[name].mirror_dirs) == {own / "release", own / profile}
    # the project chose its target dir: kept, and cargo leaves the object there itself
    assert "--target-dir" not in steps["three"].call.argv
    debug = tmp_path / "target" / "bpfel-unknown-none" / "debug"
    assert steps["three"].mirror_dirs == (() if release else (debug,))


def test_how_objects_were_built_is_recorded_beside_them(tmp_path: Path) -> None:
    from buildbpf.build.layout import BUILT_RECORD, Published, read_built, record_built

    objects = tmp_path / "target" / "buildbpf" / "bpfel-unknown-none"
    objects.mkdir(parents=True)
    out_dir = tmp_path / "target" / "release" / "build" / "x-1" / "out"

    def published(path: Path, btf: bool) -> Published:
        return Published("x-ebpf", "bpfel", path.name, path, "ab" * 32, 1, (), None, True, btf=btf)

    record_built([published(objects / "x", False), published(out_dir / "y", False)])
    assert read_built(objects) == {"x": {"sha256": "ab" * 32, "btf": False, "crate": "x-ebpf"}}
    assert not out_dir.exists()  # an aya-build OUT_DIR gets no record
    record_built([published(objects / "z", True)])
    assert set(read_built(objects)) == {"x", "z"}  # merged, not replaced
    (objects / BUILT_RECORD).write_text("{not json")
    assert read_built(objects) == {}
