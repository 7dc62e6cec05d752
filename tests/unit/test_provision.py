"""What `buildbpf setup` plans for bpf-linker, depending on which LLVM is available."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.errors import SetupError
from buildbpf.toolchain import provision
from buildbpf.toolchain.rust import Mode, RustToolchain
from buildbpf.toolchain.versions import RustcInfo, Version


def rust(sysroot: Path, llvm: Version | None = Version(22, 1, 8), name: str | None = None) -> RustToolchain:
    info = RustcInfo("1.96.0", Version(1, 96, 0), "stable", None, "x86_64-unknown-linux-gnu", llvm)
    return RustToolchain(
        "test", Mode.BOOTSTRAP, sysroot / "bin/cargo", sysroot / "bin/rustc", sysroot, info, name
    )


@pytest.fixture(autouse=True)
def _homes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BUILDBPF_HOME", str(tmp_path / "data"))
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))


def test_system_llvm_is_preferred(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = tmp_path / "llvm-22"
    monkeypatch.setattr(provision, "llvm_prefix", lambda major: prefix if major == 22 else None)
    step = provision.linker_step(rust(tmp_path / "usr"), "0.13.0")
    assert not step.manual
    assert step.command.env_set["LLVM_PREFIX"] == str(prefix)
    assert "RUSTC_BOOTSTRAP" not in step.command.env_set
    argv = list(step.command.argv)
    assert argv[argv.index("--features") + 1] == "llvm-22"
    assert "--no-default-features" in argv
    assert argv[argv.index("--root") + 1] == str(tmp_path / "data" / "bpf-linker" / "llvm-22")
    assert argv[argv.index("--version") + 1] == "0.13.0"


def test_rustc_own_llvm_through_a_shim(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "llvm_prefix", lambda major: None)
    sysroot = tmp_path / "toolchains" / "nightly-x86_64-unknown-linux-gnu"
    (sysroot / "lib").mkdir(parents=True)
    real = sysroot / "lib" / "libLLVM.so.22.1-rust-1.97.0-nightly"
    real.write_text("")
    toolchain = rust(sysroot, Version(22, 1, 4), "nightly-x86_64-unknown-linux-gnu")
    step = provision.linker_step(toolchain, "0.13.0")
    shim = Path(step.command.env_set["LLVM_PREFIX"])
    assert shim == tmp_path / "data" / "llvm-shim" / "nightly-x86_64-unknown-linux-gnu"
    provision._write_shim(shim, toolchain)
    assert (shim / "lib" / "libLLVM.so").resolve() == real.resolve()
    assert (shim / "lib" / real.name).resolve() == real.resolve()
    provision._write_shim(shim, toolchain)  # idempotent


def test_no_llvm_anywhere_prints_the_distro_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "llvm_prefix", lambda major: None)
    step = provision.linker_step(rust(tmp_path / "usr"), "0.13.0")
    assert step.manual
    assert step.command.argv[:2] == ("apt-get", "install")
    assert "llvm-22-dev" in step.command.argv


def test_rustc_without_llvm_version(tmp_path: Path) -> None:
    with pytest.raises(SetupError, match="LLVM"):
        provision.linker_step(rust(tmp_path / "usr", llvm=None), "0.13.0")


def test_llvm_prefix_detects_debian_layout(tmp_path: Path) -> None:
    pattern = (str(tmp_path / "llvm-{major}"),)
    lib = tmp_path / "llvm-22" / "lib"
    lib.mkdir(parents=True)
    assert provision.llvm_prefix(22, pattern) is None  # headers without the library: not usable
    (lib / "libLLVM-22.so").write_text("")
    assert provision.llvm_prefix(22, pattern) == tmp_path / "llvm-22"
    assert provision.llvm_prefix(21, pattern) is None
