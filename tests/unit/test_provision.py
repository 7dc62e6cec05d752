"""What `buildbpf setup` plans for bpf-linker, depending on which LLVM is available."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from buildbpf import _fs
from buildbpf._process import Command, Completed
from buildbpf.errors import SetupError, ToolchainError
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


# --- issue #20 item 9: one setup at a time; a failed install is exit 6 with cargo's reason --------


def install_step(tmp_path: Path) -> provision.SetupStep:
    argv = (str(tmp_path / "cargo"), "install", "bpf-linker", "--root", str(tmp_path / "data"))
    return provision.SetupStep("install bpf-linker 0.13.0", Command(argv))


def test_a_second_setup_waits_for_the_first_then_finds_nothing_to_do(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "plan_setup", lambda pin, version: provision.SetupPlan(present=["linker"]))
    waited = threading.Event()
    outcomes: list[provision.SetupOutcome] = []
    with _fs.exclusive(_fs.setup_lock()):  # the first setup, installing
        second = threading.Thread(
            target=lambda: outcomes.append(provision.setup(on_wait=lambda _: waited.set()))
        )
        second.start()
        assert waited.wait(10), "the second setup did not say that it waits"
        second.join(0.3)
        assert second.is_alive() and not outcomes  # still waiting while the first holds the lock
    second.join(10)
    [outcome] = outcomes
    assert outcome.present == ["linker"] and not outcome.done and not outcome.manual


def test_setup_does_not_wait_when_nobody_holds_the_lock(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(provision, "plan_setup", lambda pin, version: provision.SetupPlan())

    def never(lock: Path) -> None:
        raise AssertionError("waited for nobody")

    assert provision.setup(on_wait=never).done == []
    assert provision.setup(on_wait=never).done == []  # released after the first


CARGO_FAILED = """\
   Compiling llvm-sys v221.0.0
error: failed to run custom build command for `llvm-sys v221.0.0`

Caused by:
  process didn't exit successfully
error: failed to compile `bpf-linker v0.13.0`, intermediate artifacts can be found at `/x`.
"""


def test_a_failed_install_is_a_setup_error_with_cargos_reason(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """It was cargo's CargoError: exit 4, which the README gives builds, not setup."""
    step = install_step(tmp_path)
    monkeypatch.setattr(provision, "plan_setup", lambda pin, version: provision.SetupPlan(steps=[step]))
    monkeypatch.setattr(provision, "run", lambda argv, **_: Completed(Command(argv), 101, "", CARGO_FAILED))
    with pytest.raises(SetupError) as caught:
        provision.setup()
    assert caught.value.exit_code == 6
    assert caught.value.message == (
        "install bpf-linker 0.13.0: `cargo install` exited with status 101: "
        "error: failed to run custom build command for `llvm-sys v221.0.0`"
    )


def test_an_install_that_cannot_start_is_a_setup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    step = install_step(tmp_path)
    monkeypatch.setattr(provision, "plan_setup", lambda pin, version: provision.SetupPlan(steps=[step]))

    def missing(argv: object, **_: object) -> Completed:
        raise ToolchainError("cannot run cargo: [Errno 13] Permission denied")

    monkeypatch.setattr(provision, "run", missing)
    with pytest.raises(SetupError, match=r"^install bpf-linker 0\.13\.0: cannot run cargo: .*denied"):
        provision.setup()


def test_a_data_dir_that_cannot_hold_the_lock_is_a_setup_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "file").write_text("")
    monkeypatch.setenv("BUILDBPF_HOME", str(tmp_path / "file" / "data"))
    with pytest.raises(SetupError, match=rf"cannot create the lock file {tmp_path}/file/data/.*\(ENOTDIR\)"):
        provision.setup()
