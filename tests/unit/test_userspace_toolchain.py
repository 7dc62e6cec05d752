"""Which toolchain builds userspace: the workspace's rust-toolchain.toml as cargo would use it,
unless the user named a toolchain for buildbpf."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import resolve_rust, rustup_toolchains
from buildbpf.toolchain.userspace import userspace_rust
from tests.unit.fakes import answer_probes, isolate_toolchains, sysroot

NIGHTLY = "nightly-x86_64-unknown-linux-gnu"


@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """Debian's rustc with rust-src on PATH, a rustup nightly without it, a workspace pinning it."""
    debian = sysroot(tmp_path / "usr")
    isolate_toolchains(monkeypatch, tmp_path, [debian / "bin"])
    monkeypatch.setenv("RUSTUP_HOME", str(tmp_path / "rustup"))
    sysroot(tmp_path / "rustup" / "toolchains" / NIGHTLY, rust_src=False)
    answer_probes(monkeypatch)
    root = tmp_path / "ws"
    root.mkdir()
    (root / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "nightly"\n')
    return root


def test_a_pin_without_rust_src_builds_userspace(machine: Path, tmp_path: Path) -> None:
    pin = Pin("nightly", str(machine / "rust-toolchain.toml"), explicit=False)
    ebpf = resolve_rust(pin)
    assert ebpf.rustc == (tmp_path / "usr" / "bin" / "rustc").resolve()  # eBPF needs rust-src
    user, why = userspace_rust(ebpf, pin, machine, {})
    assert user.cargo == tmp_path / "rustup" / "toolchains" / NIGHTLY / "bin" / "cargo"
    assert user.cargo_env()["RUSTC"] == str(tmp_path / "rustup" / "toolchains" / NIGHTLY / "bin" / "rustc")
    assert why == f"pinned by {machine / 'rust-toolchain.toml'}, as `cargo build` there would"


@pytest.mark.parametrize(
    ("pin", "environ"),
    [
        (Pin("nightly", "--toolchain"), {}),  # explicit: the user's choice for both sides
        (None, {"BUILDBPF_RUSTC": "/usr/bin/rustc"}),
        (None, {"BUILDBPF_CARGO": "/usr/bin/cargo"}),
    ],
)
def test_a_toolchain_named_for_buildbpf_builds_both_sides(
    machine: Path, pin: Pin | None, environ: dict[str, str]
) -> None:
    ebpf = resolve_rust(None)
    assert userspace_rust(ebpf, pin, machine, environ) == (ebpf, None)


def test_no_pin_or_one_not_installed_leaves_userspace_to_the_ebpf_toolchain(machine: Path) -> None:
    ebpf = resolve_rust(None)
    (machine / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "nightly-2001-01-01"\n')
    assert userspace_rust(ebpf, None, machine, {}) == (ebpf, None)
    (machine / "rust-toolchain.toml").unlink()
    assert userspace_rust(ebpf, None, machine, {}) == (ebpf, None)
    assert [c.rustup_name for c in rustup_toolchains()] == [NIGHTLY]  # it is there, just not pinned


@pytest.mark.parametrize("cargo_in_cargo", [False, True])
def test_the_workspace_build_says_which_side_builds_with_which(
    machine: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    cargo_in_cargo: bool,
) -> None:
    from buildbpf.build import context as loading
    from buildbpf.build.settings import Overrides
    from buildbpf.cargo import metadata
    from tests.unit.fakes import executable, workspace_metadata

    executable(tmp_path / "usr" / "bin" / "bpf-linker")
    (machine / "x").mkdir()
    if cargo_in_cargo:  # frame-analyzer's habit: cargo hands its RUSTC to this build script
        (machine / "x" / "build.rs").write_text(
            'fn main() { std::process::Command::new("cargo").args(["build", "-Z", "build-std=core", '
            '"--target", "bpfel-unknown-none"]).status().unwrap(); }\n'
        )
    data = workspace_metadata(machine)
    if cargo_in_cargo:
        script = str(machine / "x" / "build.rs")
        build = {"name": "build-script-build", "kind": ["custom-build"], "src_path": script}
        data["packages"][1]["targets"].append(build)
    monkeypatch.setattr(metadata, "cargo_metadata", lambda rust, cwd: data)
    monkeypatch.setattr(metadata, "outside_metadata", lambda rust, data: [])
    caplog.set_level("INFO", logger="buildbpf")
    context = loading.load(machine, Overrides(), {})
    nightly = tmp_path / "rustup" / "toolchains" / NIGHTLY
    assert context.toolchain.rust.rustc == (tmp_path / "usr" / "bin" / "rustc").resolve()
    said = [r.getMessage() for r in caplog.records if "userspace with" in r.getMessage()]
    if cargo_in_cargo:  # the pin would reach the build script's eBPF cargo: both sides on eBPF's
        assert context.userspace == context.toolchain.rust and not said
    else:
        assert context.userspace.cargo == nightly / "bin" / "cargo"
        assert said == [
            f"eBPF builds with {context.toolchain.rust.describe()}; userspace with rustc 1.96.0 from "
            f"rustup toolchain {NIGHTLY} (pinned by {machine / 'rust-toolchain.toml'}, "
            "as `cargo build` there would)"
        ]
