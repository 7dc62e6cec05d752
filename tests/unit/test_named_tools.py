"""A rustc, cargo or bpf-linker the user named is used or refused, never swapped, and every
toolchain label says truthfully where it came from (issue #11, items 15 and 16)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildbpf.errors import NamedToolError, ToolchainError
from buildbpf.toolchain import rust
from buildbpf.toolchain.linker import resolve_linker
from buildbpf.toolchain.rust import path_rustcs, resolve_rust
from tests.unit.fakes import answer_probes, executable, isolate_toolchains, sysroot


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A PATH directory with a bpf-linker on rustc's LLVM, and a nightly rustup toolchain."""
    path_bin = tmp_path / "path-bin"
    executable(path_bin / "bpf-linker")
    isolate_toolchains(monkeypatch, tmp_path, [path_bin])
    sysroot(tmp_path / "no-rustup" / "toolchains" / "nightly-x86_64-unknown-linux-gnu")
    answer_probes(monkeypatch)
    return tmp_path


# --- item 15: a named bpf-linker ------------------------------------------------------------


@pytest.mark.parametrize("how", ["missing", "not executable", "directory"])
@pytest.mark.parametrize("origin", ["BUILDBPF_BPF_LINKER", "--bpf-linker"])
def test_a_named_linker_that_cannot_run_is_refused_not_swapped(
    machine: Path, monkeypatch: pytest.MonkeyPatch, how: str, origin: str
) -> None:
    named = machine / "mine" / "bpf-linker"
    if how == "not executable":
        executable(named, mode=0o644)
    elif how == "directory":
        named.mkdir(parents=True)
    explicit = None
    if origin == "BUILDBPF_BPF_LINKER":
        monkeypatch.setenv(origin, str(named))
    else:
        explicit = str(named)
    with pytest.raises(NamedToolError) as caught:
        resolve_linker(22, explicit).require()
    message = caught.value.message
    assert message.startswith(f"{origin}={named} ")
    assert {"missing": "does not exist", "not executable": "is not executable (mode 0644)",
            "directory": "is a directory"}[how] in message  # fmt: skip
    assert caught.value.exit_code == 3
    assert caught.value.fix is not None and origin in caught.value.fix


def test_a_named_linker_on_another_llvm_is_refused_naming_the_variable(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    named = executable(machine / "mine" / "bpf-linker")
    monkeypatch.setenv("BUILDBPF_BPF_LINKER", str(named))
    answer_probes(monkeypatch, linker_llvm="21.1.0")
    choice = resolve_linker(22)
    assert choice.chosen is None and [r.path for r in choice.rejected] == [named]
    with pytest.raises(NamedToolError) as caught:
        choice.require()
    assert caught.value.message.startswith("BUILDBPF_BPF_LINKER: ")
    assert str(named) in caught.value.message and "LLVM 21.1.0" in caught.value.message
    assert caught.value.fix is not None and "BUILDBPF_BPF_LINKER" in caught.value.fix


def test_a_named_linker_that_works_is_the_one_used(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    named = executable(machine / "mine" / "bpf-linker")
    monkeypatch.setenv("BUILDBPF_BPF_LINKER", str(named))
    linker = resolve_linker(22).require()
    assert (linker.path, linker.source) == (named, "BUILDBPF_BPF_LINKER")


def test_the_config_files_linker_is_relative_to_the_file_and_named_by_its_key(tmp_path: Path) -> None:
    from buildbpf.build.context import linker_setting
    from buildbpf.build.settings import Overrides, load_config

    (tmp_path / "buildbpf.toml").write_text('\nbpf_linker = "tools/bpf-linker"\n')
    config = load_config(tmp_path)
    assert linker_setting(config, Overrides(), {}) == (
        str(tmp_path / "tools" / "bpf-linker"),
        "buildbpf.toml:2 bpf_linker",
    )
    assert linker_setting(config, Overrides(), {"BUILDBPF_BPF_LINKER": "/x"}) == ("/x", "BUILDBPF_BPF_LINKER")
    assert (
        linker_setting(config, Overrides(bpf_linker="/y"), {"BUILDBPF_BPF_LINKER": "/x"})[1] == "--bpf-linker"
    )


def test_the_config_files_linker_is_not_ignored_with_a_toolchain_pin(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`toolchain` and `bpf_linker` both in buildbpf.toml: the linker key used to be dropped."""
    from buildbpf.build import context as loading
    from buildbpf.build.settings import Overrides
    from buildbpf.cargo import metadata
    from tests.unit.fakes import workspace_metadata

    (machine / "buildbpf.toml").write_text('toolchain = "nightly"\nbpf_linker = "tools/bpf-linker"\n')
    monkeypatch.setattr(metadata, "cargo_metadata", lambda rust, cwd: workspace_metadata(machine))
    monkeypatch.setattr(metadata, "outside_metadata", lambda rust, data: [])
    with pytest.raises(
        NamedToolError, match=r"^buildbpf.toml:2 bpf_linker=.*tools/bpf-linker does not exist"
    ):
        loading.load(machine, Overrides(), {})
    executable(machine / "tools" / "bpf-linker")
    context = loading.load(machine, Overrides(), {})
    assert context.toolchain.linker.path == machine / "tools" / "bpf-linker"
    assert context.toolchain.rust.rustup_name == "nightly-x86_64-unknown-linux-gnu"


def test_a_broken_named_linker_fails_the_cli_with_exit_3(
    machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from buildbpf.cargo import metadata
    from buildbpf.cli.app import run_cli
    from tests.unit.fakes import workspace_metadata

    named = executable(machine / "mine" / "bpf-linker", mode=0o644)
    monkeypatch.setenv("BUILDBPF_BPF_LINKER", str(named))
    monkeypatch.setenv("BUILDBPF_NO_REPLAY", "1")
    monkeypatch.chdir(machine)
    monkeypatch.setattr(metadata, "cargo_metadata", lambda rust, cwd: workspace_metadata(machine))
    monkeypatch.setattr(metadata, "outside_metadata", lambda rust, data: [])
    assert run_cli(["build", "--print-plan"]) == 3
    out, err = capsys.readouterr()
    assert f"BUILDBPF_BPF_LINKER={named} is not executable" in err
    assert json.loads(out)["error"]["exit_code"] == 3


# --- item 16: a named rustc or cargo --------------------------------------------------------


def test_a_missing_buildbpf_cargo_is_named(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    debian = sysroot(machine / "usr")
    monkeypatch.setenv("BUILDBPF_RUSTC", str(debian / "bin" / "rustc"))
    monkeypatch.setenv("BUILDBPF_CARGO", str(machine / "nowhere" / "cargo"))
    with pytest.raises(NamedToolError) as caught:
        resolve_rust()
    assert caught.value.message.startswith(f"BUILDBPF_CARGO={machine / 'nowhere' / 'cargo'} does not exist")
    assert "rust-src" not in caught.value.message
    assert caught.value.fix is not None and "nightly" not in caught.value.fix


def test_buildbpf_rustc_without_a_cargo_beside_it_asks_for_buildbpf_cargo(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    lone = sysroot(machine / "lone", tools=("rustc",))
    monkeypatch.setenv("BUILDBPF_RUSTC", str(lone / "bin" / "rustc"))
    with pytest.raises(NamedToolError) as caught:
        resolve_rust()
    assert "no cargo beside it" in caught.value.message
    assert caught.value.fix is not None and "BUILDBPF_CARGO" in caught.value.fix


def test_buildbpf_rustc_without_rust_src_is_named(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bare = sysroot(machine / "bare", rust_src=False)
    monkeypatch.setenv("BUILDBPF_RUSTC", str(bare / "bin" / "rustc"))
    with pytest.raises(NamedToolError) as caught:
        resolve_rust()
    assert caught.value.message.startswith("BUILDBPF_RUSTC: ")
    assert "no rust-src" in caught.value.message
    assert caught.value.fix is not None and "unset BUILDBPF_RUSTC" in caught.value.fix


def test_buildbpf_cargo_alone_brings_the_rustc_beside_it(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    mine = sysroot(machine / "opt" / "rust")
    monkeypatch.setenv("BUILDBPF_CARGO", str(mine / "bin" / "cargo"))
    rust = resolve_rust()  # the rustup nightly would win without it
    assert (rust.cargo, rust.rustc) == (mine / "bin" / "cargo", mine / "bin" / "rustc")
    assert rust.source.startswith("BUILDBPF_CARGO ")
    notice = rust.bootstrap_notice()
    assert notice is not None and "BUILDBPF_CARGO names it" in notice  # not "no nightly was found"


def test_buildbpf_cargo_alone_without_a_rustc_uses_the_usual_rustc(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cargo = executable(machine / "tools" / "cargo")
    monkeypatch.setenv("BUILDBPF_CARGO", str(cargo))
    rust = resolve_rust()
    assert rust.cargo == cargo
    assert rust.rustup_name == "nightly-x86_64-unknown-linux-gnu"
    assert rust.source == f"rustup toolchain nightly-x86_64-unknown-linux-gnu (cargo: BUILDBPF_CARGO {cargo})"


def test_a_buildbpf_cargo_that_cannot_run_is_refused(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    cargo = executable(machine / "tools" / "cargo", mode=0o600)
    monkeypatch.setenv("BUILDBPF_CARGO", str(cargo))
    with pytest.raises(NamedToolError, match=r"^BUILDBPF_CARGO=.* is not executable"):
        resolve_rust()


def test_a_rustup_proxy_as_buildbpf_rustc_is_refused(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bin_dir = machine / "cargo-home" / "bin"
    executable(bin_dir / "rustup")
    (bin_dir / "rustc").symlink_to("rustup")
    (bin_dir / "cargo").symlink_to("rustup")
    monkeypatch.setenv("BUILDBPF_RUSTC", str(bin_dir / "rustc"))
    with pytest.raises(NamedToolError, match="rustup's proxy"):
        resolve_rust()


def test_setup_does_not_plan_around_a_named_tool(machine: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from buildbpf.toolchain import provision

    monkeypatch.setenv("BUILDBPF_CARGO", str(machine / "nowhere"))
    with pytest.raises(NamedToolError):
        provision.plan_setup()
    monkeypatch.delenv("BUILDBPF_CARGO")
    monkeypatch.setenv("BUILDBPF_BPF_LINKER", str(executable(machine / "old-linker")))
    answer_probes(monkeypatch, linker_llvm="21.1.0")
    with pytest.raises(NamedToolError, match=r"^BUILDBPF_BPF_LINKER: "):
        provision.plan_setup()  # installing a linker BUILDBPF_BPF_LINKER overrides would not help


def test_a_system_rustc_not_on_path_is_not_labelled_path(
    machine: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    debian = sysroot(machine / "usr")
    found = path_rustcs("", extra=(debian / "bin",))
    assert [c.source for c in found] == [f"{debian / 'bin' / 'rustc'} (not on PATH)"]
    assert [c.source for c in path_rustcs(str(debian / "bin"), extra=(debian / "bin",))] == [
        f"PATH {debian / 'bin' / 'rustc'}"
    ]


def test_doctor_and_config_say_where_the_rustc_came_from(
    machine: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from buildbpf.cargo import metadata
    from buildbpf.cli.app import run_cli
    from buildbpf.toolchain import doctor
    from tests.unit.fakes import workspace_metadata

    debian = sysroot(machine / "usr")
    monkeypatch.setattr(rust, "SYSTEM_BIN_DIRS", (debian / "bin",))
    (machine / "no-rustup" / "toolchains" / "nightly-x86_64-unknown-linux-gnu" / "bin" / "cargo").unlink()
    label = f"{debian / 'bin' / 'rustc'} (not on PATH)"
    monkeypatch.setattr(doctor, "probe", lambda argv, **_: None)
    monkeypatch.setattr(doctor, "_check_git", lambda report, rust: None)
    report = doctor.DoctorReport()
    doctor._check_rust(report, None)
    assert report.toolchain["source"] == label
    assert any(c.name == "toolchain" and label in c.detail for c in report.checks)
    monkeypatch.chdir(machine)
    monkeypatch.setattr(metadata, "cargo_metadata", lambda rust, cwd: workspace_metadata(machine))
    monkeypatch.setattr(metadata, "outside_metadata", lambda rust, data: [])
    assert run_cli(["config"]) == 0
    assert f"from {label}" in capsys.readouterr().out


def test_no_rust_src_anywhere_still_suggests_installing_one(machine: Path) -> None:
    """Without a named tool, the old advice stays: nothing named, so install a nightly."""
    (machine / "no-rustup" / "toolchains" / "nightly-x86_64-unknown-linux-gnu" / "lib").rename(
        machine / "elsewhere"
    )
    with pytest.raises(ToolchainError) as caught:
        resolve_rust()
    assert not isinstance(caught.value, NamedToolError)
    assert caught.value.fix is not None and "nightly" in caught.value.fix
