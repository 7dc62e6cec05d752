"""`buildbpf doctor` on the real machine, healthy and deliberately broken."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from buildbpf.objects import sections
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf, cargo_build_ebpf
from tests.support import skip_or_fail


def rows(output: str) -> dict[str, dict[str, str]]:
    return {row["name"]: row for row in json.loads(output)["checks"]}


def test_doctor_reports_a_build_capable_machine(toolchain: Toolchain) -> None:
    done = buildbpf("doctor", "--json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    assert report["can_build"] is True
    checks = rows(done.stdout)
    for name in ("cargo", "toolchain", "rust-src", "bpf targets", "bpf-linker"):
        assert checks[name]["status"] == "ok", checks[name]
    assert report["toolchain"]["rustc"] == str(toolchain.rust.rustc)
    assert (
        report["toolchain"]["llvm_version"].split(".")[0]
        == report["toolchain"]["bpf_linker_llvm"].split(".")[0]
    )


def test_doctor_human_output_names_every_check(toolchain: Toolchain) -> None:
    done = buildbpf("doctor")
    assert done.returncode == 0, done.stderr
    for name in (
        "cargo",
        "toolchain",
        "rust-src",
        "bpf-linker",
        "LLVM match",
        "kernel BTF",
        "privilege",
    ):
        assert name in done.stdout
    assert "eBPF builds can work here." in done.stdout


def isolated_env(tmp_path: Path, path_dirs: list[str]) -> dict[str, str]:
    """An environment where buildbpf's own and cargo's bpf-linker do not exist."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("BUILDBPF_")}
    env["PATH"] = os.pathsep.join(path_dirs)
    env["BUILDBPF_HOME"] = str(tmp_path / "empty-home")
    env["CARGO_HOME"] = str(tmp_path / "empty-cargo")
    return env


def test_doctor_fails_without_bpf_linker(toolchain: Toolchain, tmp_path: Path) -> None:
    env = isolated_env(tmp_path, ["/usr/local/bin", "/usr/bin", "/bin"])
    assert not any((Path(d) / "bpf-linker").exists() for d in env["PATH"].split(os.pathsep))
    done = buildbpf("doctor", "--json", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    row = rows(done.stdout)["bpf-linker"]
    assert row["status"] == "fail"
    assert "not found" in row["detail"]
    assert "buildbpf setup" in row["fix"]
    human = buildbpf("doctor", env=env)
    assert human.returncode == 3
    assert "fix: run `buildbpf setup`" in human.stdout
    assert "Traceback" not in human.stderr


def test_doctor_rejects_a_linker_on_another_llvm(toolchain: Toolchain, tmp_path: Path) -> None:
    # a bpf-linker that answers like one built on LLVM 14 (PITFALLS #1)
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    linker = fake_bin / "bpf-linker"
    linker.write_text(
        "#!/bin/sh\n"
        'case "$1" in --version) echo "bpf-linker 0.9.4";; '
        '--llvm-args=--version) echo "LLVM (http://llvm.org/):"; echo "  LLVM version 14.0.6";; esac\n'
    )
    linker.chmod(0o755)
    env = isolated_env(tmp_path, [str(fake_bin), "/usr/local/bin", "/usr/bin", "/bin"])
    done = buildbpf("doctor", "--json", env=env)
    assert done.returncode == 3, done.stdout + done.stderr
    row = rows(done.stdout)["bpf-linker"]
    assert row["status"] == "fail"
    assert "LLVM 14.0.6" in row["detail"]
    assert f"llvm-{toolchain.rust.llvm_major}" in row["fix"]


def test_named_linker_that_does_not_exist(toolchain: Toolchain, tmp_path: Path) -> None:
    done = buildbpf("doctor", "--json", "--bpf-linker", str(tmp_path / "nope"))
    assert done.returncode == 3
    assert "does not exist" in rows(done.stdout)["bpf-linker"]["detail"]


def test_doctor_says_of_fentry_and_lsm_what_check_load_says(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # issue #21: on a kernel that refuses LSM and tracing programs before verifying them,
    # doctor said `ok attach: fentry/fexit` and `ok attach: lsm` while `check --load` said no
    if os.geteuid() != 0:
        skip_or_fail("loading programs needs root")
    crate = tmp_path / "load-cases-ebpf"
    shutil.copytree(FIXTURES / "load-cases-ebpf", crate)
    _, [obj] = cargo_build_ebpf(toolchain, crate, target_dir=shared_target)
    checked = buildbpf("check", "--load", "--json", "--attach-target", "traced=bpf_fentry_test1", str(obj))
    assert checked.returncode == 0, checked.stderr[-3000:]
    loads = {load["name"]: load for load in json.loads(checked.stdout)[0]["loads"]}
    doctor = buildbpf("doctor", "--json")
    mechanisms = {m["name"]: m for m in json.loads(doctor.stdout)["attach_mechanisms"]}
    for program, mechanism in (("traced", sections.TRAMPOLINE), ("guard", sections.LSM)):
        load, said = loads[program], mechanisms[mechanism]
        assert load["status"] in ("verified", "not verified"), load
        assert said["available"] is (load["status"] == "verified"), (said, load)
        if load["status"] == "not verified":  # the same reading of the kernel's refusal
            assert said["reason"].split(" (active LSMs")[0] == load["reason"].split(" (active LSMs")[0]
