"""The build plan (argv + env + config keys) for representative settings, against golden files."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from buildbpf.build import plan
from buildbpf.build.plan import host_endianness, plan_build
from buildbpf.build.precedence import effective
from buildbpf.build.settings import LoadedConfig, load_config
from buildbpf.build.steps import BuildOptions
from buildbpf.cargo.env import leaky_variables
from buildbpf.cargo.workspace import Workspace, from_metadata
from buildbpf.errors import ConfigError

GOLDEN = Path(__file__).parent / "golden"
ROOT = Path("/ws/probe")


def metadata(extra: tuple[tuple[str, list[str], list[str]], ...] = ()) -> dict[str, object]:
    def package(name: str, deps: list[str], kinds: list[str]) -> dict[str, object]:
        return {
            "name": name,
            "id": f"path+file://{ROOT}/{name}#0.1.0",
            "version": "0.1.0",
            "manifest_path": f"{ROOT}/{name}/Cargo.toml",
            "dependencies": [{"name": d, "kind": None} for d in deps],
            "targets": [{"name": name, "kind": [k]} for k in kinds],
        }

    packages = [
        package("probe", ["aya", "probe-common"], ["bin"]),
        package("probe-common", [], ["lib"]),
        package("probe-ebpf", ["aya-ebpf", "probe-common"], ["bin"]),
        *(package(*p) for p in extra),
    ]
    return {
        "packages": packages,
        "workspace_members": [p["id"] for p in packages],
        "workspace_root": str(ROOT),
        "target_directory": str(ROOT / "target"),
        "metadata": None,
    }


def plan_json(
    config: LoadedConfig,
    *,
    environ: dict[str, str],
    options: BuildOptions,
    extra: tuple[tuple[str, list[str], list[str]], ...] = (),
    solo: frozenset[str] = frozenset(),
    userspace_triple: str = "x86_64-unknown-linux-gnu",
    project_rustflags: plan.ProjectFlags | None = None,
) -> str:
    workspace = from_metadata(metadata(extra), config)
    settings = {c.name: effective(c.name, config, environ=environ) for c in workspace.crates}
    plan = plan_build(
        workspace,
        settings,
        cargo=Path("/usr/bin/cargo"),
        cargo_env={"RUSTC": "/usr/bin/rustc", "RUSTC_BOOTSTRAP": "1"},
        linker=Path("/opt/buildbpf/bpf-linker"),
        userspace_triple=userspace_triple,
        options=options,
        environ=environ,
        solo=solo,
        project_rustflags=project_rustflags,
    )
    return json.dumps(plan.as_json(), indent=2, sort_keys=True) + "\n"


def check_golden(name: str, text: str) -> None:
    path = GOLDEN / name
    if os.environ.get("BUILDBPF_UPDATE_GOLDEN"):
        path.write_text(text)
    assert text == path.read_text()


def test_zero_config_plan(tmp_path: Path) -> None:
    text = plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True))
    check_golden("plan-zero-config.json", text)
    plan = json.loads(text)
    assert [s["crates"] for s in plan["ebpf"]] == [["probe-ebpf"]]
    assert plan["userspace"]["crates"] == ["probe", "probe-common"]
    rustflags = plan["ebpf"][0]["cargo"]["env_set"]["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
    assert rustflags[:4] == ["-C", "debuginfo=2", "-C", "link-arg=--btf"]
    assert "RUSTC_BOOTSTRAP" not in plan["userspace"]["cargo"]["env_set"]


def test_configured_plan_with_leaky_environment(tmp_path: Path) -> None:
    (tmp_path / "buildbpf.toml").write_text(
        '[defaults]\ntargets = ["bpfel", "bpfeb"]\n\n'
        '[crates.probe-ebpf]\nbtf = false\ndebuginfo = 0\nopt_level = "s"\nfeatures = ["trace"]\n'
        'no_default_features = true\nrustflags = ["-Zfoo"]\nbpf_target_arch = "aarch64"\n'
        'linker = { cpu = "v3", cpu_features = ["+alu32"], unroll_loops = true, '
        'extra_args = ["--log-level=info"] }\n'
    )
    environ = {
        "RUSTFLAGS": "-C link-arg=-fuse-ld=mold",
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER": "clang",
        "RUSTC_WRAPPER": "sccache",
        "RUSTUP_TOOLCHAIN": "stable",
        "HOME": "/root",
    }
    text = plan_json(load_config(tmp_path), environ=environ, options=BuildOptions())
    check_golden("plan-configured.json", text)
    plan = json.loads(text)
    assert [s["target"] for s in plan["ebpf"]] == ["bpfel", "bpfeb"]
    assert plan["ebpf"][0]["cargo"]["env_remove"] == [
        "CARGO_TARGET_X86_64_UNKNOWN_LINUX_GNU_LINKER", "RUSTC_WRAPPER", "RUSTFLAGS", "RUSTUP_TOOLCHAIN",
    ]  # fmt: skip
    assert plan["userspace"]["cargo"]["env_remove"] == []  # host settings are the user's business


def test_package_selection(tmp_path: Path) -> None:
    config = load_config(tmp_path)
    only_user = json.loads(plan_json(config, environ={}, options=BuildOptions(packages=("probe",))))
    assert [s["crates"] for s in only_user["ebpf"]] == [["probe-ebpf"]]  # userspace needs the objects
    assert only_user["userspace"]["crates"] == ["probe"]
    only_ebpf = json.loads(plan_json(config, environ={}, options=BuildOptions(packages=("probe-ebpf",))))
    assert only_ebpf["userspace"] is None
    with pytest.raises(ConfigError, match="did you mean `probe-ebpf`"):
        plan_json(config, environ={}, options=BuildOptions(packages=("probe-epbf",)))


SECOND = (("probe-xdp", ["aya-ebpf"], ["bin"]),)


@pytest.mark.parametrize(
    ("config", "solo", "extra", "calls"),
    [
        ("", frozenset(), SECOND, [["probe-ebpf", "probe-xdp"]]),
        ("[crates.probe-xdp]\nbtf = false\n", frozenset(), SECOND, [["probe-ebpf"], ["probe-xdp"]]),
        ('[crates.probe-xdp]\nfeatures = ["x"]\n', frozenset(), SECOND, [["probe-ebpf"], ["probe-xdp"]]),
        ("", frozenset({"probe-xdp"}), SECOND, [["probe-ebpf"], ["probe-xdp"]]),
        (
            "",
            frozenset(),
            (("probe-xdp", ["aya-ebpf"], ["bin"]), ("probe-tc", ["aya-ebpf"], ["bin"])),
            [["probe-ebpf", "probe-xdp", "probe-tc"]],
        ),
        (
            '[defaults]\ntargets = ["bpfel", "bpfeb"]\n[crates.probe-xdp]\ntargets = ["bpfeb"]\n',
            frozenset(),
            SECOND,
            [["probe-ebpf"], ["probe-ebpf", "probe-xdp"]],
        ),
    ],
)
def test_crates_with_the_same_flags_share_one_cargo_call(
    tmp_path: Path,
    config: str,
    solo: frozenset[str],
    extra: tuple[tuple[str, list[str], list[str]], ...],
    calls: list[list[str]],
) -> None:
    (tmp_path / "buildbpf.toml").write_text(config)
    plan = json.loads(
        plan_json(load_config(tmp_path), environ={}, options=BuildOptions(), extra=extra, solo=solo)
    )
    assert [s["crates"] for s in plan["ebpf"]] == calls
    for step in plan["ebpf"]:
        argv = step["cargo"]["argv"]
        assert [argv[i + 1] for i, a in enumerate(argv) if a == "-p"] == step["crates"]
        alone = len(step["crates"]) == 1
        assert step["cargo"]["cwd"] == str(ROOT / step["crates"][0] if alone else ROOT)
        assert step["bins"] == step["crates"]  # each fixture crate has one bin named after it


def test_bins_of_one_name_are_not_built_by_one_call(tmp_path: Path) -> None:
    workspace = from_metadata(metadata(SECOND), load_config(tmp_path))
    clash = {c.name: c for c in workspace.crates}
    clash["probe-xdp"] = replace(clash["probe-xdp"], bins=("probe-ebpf",))
    workspace = replace(workspace, crates=tuple(clash.values()))
    settings = {c.name: effective(c.name, load_config(tmp_path), environ={}) for c in workspace.crates}
    plan = plan_build(
        workspace, settings, cargo=Path("/usr/bin/cargo"), cargo_env={}, linker=Path("/bpf-linker"),
        userspace_triple="x86_64-unknown-linux-gnu", options=BuildOptions(), environ={},
    )  # fmt: skip
    assert [s.crates for s in plan.ebpf] == [("probe-ebpf",), ("probe-xdp",)]


def test_leaky_variables() -> None:
    environ = {"RUSTFLAGS": "", "CARGO_TARGET_BPFEL_UNKNOWN_NONE_RUSTFLAGS": "", "CARGO_HOME": "", "PATH": ""}
    assert leaky_variables(environ) == ["CARGO_TARGET_BPFEL_UNKNOWN_NONE_RUSTFLAGS", "RUSTFLAGS"]


def test_userspace_byte_order() -> None:
    assert host_endianness("x86_64").value == "bpfel"
    assert host_endianness("s390x").value == "bpfeb"


def test_workspace_roles_and_errors(tmp_path: Path) -> None:
    workspace: Workspace = from_metadata(metadata(), load_config(tmp_path))
    roles = {c.name: c.role.value for c in workspace.crates}
    assert roles == {"probe": "userspace", "probe-common": "userspace", "probe-ebpf": "ebpf"}
    (tmp_path / "buildbpf.toml").write_text('[crates.probe-common]\nrole = "ebpf"\n')
    with pytest.raises(ConfigError, match="no \\[\\[bin\\]\\] target"):
        from_metadata(metadata(), load_config(tmp_path))
    (tmp_path / "buildbpf.toml").write_text("[crates.probe-ebfp]\nbtf = false\n")
    with pytest.raises(ConfigError) as caught:
        from_metadata(metadata(), load_config(tmp_path))
    assert "buildbpf.toml:1 crates.probe-ebfp" in caught.value.message
    assert "did you mean `probe-ebpf`" in caught.value.message


@pytest.mark.parametrize(
    ("package_id", "name"),
    [
        ("path+file:///ws/probe/xdp-counter#0.1.0", "xdp-counter"),
        ("path+file:///ws/probe/user#xdp-counter@0.1.0", "xdp-counter"),
        ("registry+https://github.com/rust-lang/crates.io-index#aya@0.14.0", "aya"),
    ],
)
def test_package_name_from_cargo_package_id(package_id: str, name: str) -> None:
    from buildbpf.cargo.messages import package_name

    assert package_name(package_id) == name


def test_linker_directory_is_first_on_path_for_every_cargo_call() -> None:
    # aya-template's eBPF build.rs does `which("bpf-linker").unwrap()`
    linker = Path("/home/u/.local/share/buildbpf/llvm-22/bin/bpf-linker")
    environ = {"PATH": "/usr/local/bin:/usr/bin:/home/u/.local/share/buildbpf/llvm-22/bin"}
    assert plan.linker_first_on_path(linker, environ) == (
        "/home/u/.local/share/buildbpf/llvm-22/bin:/usr/local/bin:/usr/bin"
    )
    call = plan.ebpf_build(
        cargo=Path("/usr/bin/cargo"), cargo_env={}, linker=linker, crate_dir=Path("/w/x-ebpf"),
        environ=environ,
    )  # fmt: skip
    assert call.env_set["PATH"].split(":")[0] == str(linker.parent)


def test_bpf_target_arch_follows_the_userspace_target(tmp_path: Path) -> None:
    text = plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True),
                     userspace_triple="aarch64-unknown-linux-gnu")  # fmt: skip
    assert 'bpf_target_arch=\\"aarch64\\"' in text
    assert "x86_64" not in text


def test_the_userspace_target_is_found_as_cargo_finds_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from buildbpf.build.context import userspace_triple

    monkeypatch.setenv("CARGO_HOME", str(tmp_path / "cargo-home"))
    root = tmp_path / "parent" / "ws"
    root.mkdir(parents=True)
    host = "x86_64-unknown-linux-gnu"
    assert userspace_triple(root, {}, host) == host
    (tmp_path / "cargo-home").mkdir()
    (tmp_path / "cargo-home" / "config.toml").write_text('[build]\ntarget = "riscv64gc-unknown-linux-gnu"\n')
    assert userspace_triple(root, {}, host) == "riscv64gc-unknown-linux-gnu"
    parent_config = tmp_path / "parent" / ".cargo" / "config.toml"
    parent_config.parent.mkdir()
    parent_config.write_text('[build]\ntarget = ["s390x-unknown-linux-gnu"]\n')
    assert userspace_triple(root, {}, host) == "s390x-unknown-linux-gnu"
    (root / ".cargo").mkdir()
    (root / ".cargo" / "config.toml").write_text('[build]\ntarget = "specs/aarch64-custom.json"\n')
    assert userspace_triple(root, {}, host) == "aarch64-custom"
    (root / ".cargo" / "config.toml").write_text('[build]\ntarget = "bpfel-unknown-none"\n')
    assert userspace_triple(root, {}, host) == "s390x-unknown-linux-gnu"  # that one is eBPF's
    env = {"CARGO_BUILD_TARGET": "aarch64-unknown-linux-gnu"}
    assert userspace_triple(root, env, host) == "aarch64-unknown-linux-gnu"


def test_an_ebpf_root_package_gets_no_config_where_userspace_builds(tmp_path: Path) -> None:
    # the eBPF crate is the workspace's root package: a .cargo/config.toml there would apply
    # to the userspace build (target bpfel, build-std); the command line carries everything
    data = metadata()
    packages = data["packages"]
    assert isinstance(packages, list)
    ebpf = next(p for p in packages if p["name"] == "probe-ebpf")
    ebpf["manifest_path"] = f"{ROOT}/Cargo.toml"
    config = load_config(tmp_path)
    workspace = from_metadata(data, config)
    assert next(c for c in workspace.crates if c.name == "probe-ebpf").directory == ROOT
    settings = {c.name: effective(c.name, config, environ={}) for c in workspace.crates}
    built = plan_build(workspace, settings, cargo=Path("/usr/bin/cargo"), cargo_env={},
                      linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                      options=BuildOptions(release=True), environ={})  # fmt: skip
    assert [s.directory for s in built.configs] == []
    [step] = built.ebpf
    assert "--target" in step.call.argv and "-p" in step.call.argv
    assert built.userspace is not None
    # an eBPF-only workspace keeps its config: no userspace call runs there
    alone = replace(workspace, crates=tuple(c for c in workspace.crates if c.name == "probe-ebpf"))
    built = plan_build(alone, settings, cargo=Path("/usr/bin/cargo"), cargo_env={},
                      linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                      options=BuildOptions(release=True), environ={})  # fmt: skip
    assert [s.directory for s in built.configs] == [ROOT]


def test_a_member_named_like_a_dependency_is_named_with_its_version(tmp_path: Path) -> None:
    from buildbpf.cargo.metadata import locked_duplicates

    lock = tmp_path / "Cargo.lock"
    lock.write_text(
        'version = 4\n\n[[package]]\nname = "probe"\nversion = "0.1.0"\n\n'
        '[[package]]\nname = "probe"\nversion = "2.0.3"\nsource = "registry+x"\n\n'
        '[[package]]\nname = "probe-ebpf"\nversion = "0.1.0"\n'
    )
    assert locked_duplicates([tmp_path, tmp_path / "no-lock-here"]) == {"probe"}
    config = load_config(tmp_path)
    workspace = from_metadata(metadata(), config)
    settings = {c.name: effective(c.name, config, environ={}) for c in workspace.crates}
    built = plan_build(workspace, settings, cargo=Path("/usr/bin/cargo"), cargo_env={},
                      linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                      options=BuildOptions(release=True), environ={},
                      ambiguous=frozenset({"probe"}))  # fmt: skip
    assert built.userspace is not None
    argv = list(built.userspace.call.argv)
    assert argv[argv.index("-p") + 1] == "probe@0.1.0"
    assert "-p" in built.ebpf[0].call.argv
    assert "probe-ebpf" in built.ebpf[0].call.argv  # not ambiguous: the plain name


def test_min_kernel_reaches_the_linker_flags(tmp_path: Path) -> None:
    (tmp_path / "buildbpf.toml").write_text('[defaults]\nmin_kernel = "5.2"\n')
    text = plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True))
    assert "target-cpu=v3" in text
    assert "-Clink-arg=--unroll-loops" in text
    assert "--ignore-inline-never" not in text
    (tmp_path / "buildbpf.toml").write_text('[defaults]\nmin_kernel = "6.12"\n')
    text = plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True))
    assert "target-cpu" not in text
    assert "--unroll-loops" not in text


def test_the_projects_bpf_rustflags_reach_the_ebpf_call_and_its_record(tmp_path: Path) -> None:
    from buildbpf.build.record import call_record
    from buildbpf.cargo.config_file import ConfigFlags

    config = ROOT / "probe-ebpf" / ".cargo" / "config.toml"
    flags_there = ("--cfg", "my_feature", "-C", "debuginfo=2")
    own = {("probe-ebpf", "bpfel-unknown-none"): [ConfigFlags(config, "target.bpfel-unknown-none.rustflags",
                                                              flags_there)]}  # fmt: skip
    before = json.loads(plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True)))
    after = json.loads(plan_json(load_config(tmp_path), environ={}, options=BuildOptions(release=True),
                                 project_rustflags=own))  # fmt: skip
    flags = after["ebpf"][0]["cargo"]["env_set"]["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
    assert flags[-2:] == ["--cfg", "my_feature"]
    assert flags.count("debuginfo=2") == 1
    assert flags[:-2] == before["ebpf"][0]["cargo"]["env_set"]["CARGO_ENCODED_RUSTFLAGS"].split("\x1f")
    # the config file keeps buildbpf's own flags: a plain `cargo build` joins the project's anyway
    assert after["configs"] == before["configs"]
    # what the no-op replay compares: a changed config changes the recorded call
    records = []
    for project in (None, own):
        workspace = from_metadata(metadata(), load_config(tmp_path))
        settings = {c.name: effective(c.name, load_config(tmp_path), environ={}) for c in workspace.crates}
        built = plan_build(workspace, settings, cargo=Path("/usr/bin/cargo"), cargo_env={},
                           linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                           options=BuildOptions(release=True), environ={},
                           project_rustflags=project)  # fmt: skip
        records.append(call_record(built.ebpf[0].call, what="", gate=True))
    assert records[0] != records[1]
