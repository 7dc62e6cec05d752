"""`buildbpf doctor`: one row per thing an eBPF build (and a kernel load) needs."""

from __future__ import annotations

import enum
import os
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from buildbpf._process import probe
from buildbpf.errors import BuildbpfError
from buildbpf.objects import kernel
from buildbpf.toolchain.linker import resolve_linker
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import BPF_TARGETS, RustToolchain, resolve_rust
from buildbpf.toolchain.versions import parse_cargo_version


class DoctorStatus(enum.StrEnum):
    """ok: fine; warn: builds work, something optional is missing; fail: builds cannot work."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class DoctorCheck:
    """One row of the report."""

    name: str
    status: DoctorStatus
    detail: str
    fix: str | None = None


@dataclass
class DoctorReport:
    """All rows, plus the resolved toolchain for `--json` consumers."""

    checks: list[DoctorCheck] = field(default_factory=list)
    toolchain: dict[str, Any] = field(default_factory=dict)
    attach_mechanisms: list[dict[str, Any]] = field(default_factory=list)  # mechanisms.Mechanism

    @property
    def can_build(self) -> bool:
        return all(c.status is not DoctorStatus.FAIL for c in self.checks)

    def add(self, name: str, status: DoctorStatus, detail: str, fix: str | None = None) -> None:
        self.checks.append(DoctorCheck(name, status, detail, fix))

    def as_json(self) -> dict[str, Any]:
        return {
            "can_build": self.can_build,
            "checks": [asdict(c) for c in self.checks],
            "toolchain": self.toolchain,
            "attach_mechanisms": self.attach_mechanisms,
        }


def _fail_from(error: BuildbpfError) -> tuple[str, str | None]:
    return error.message, error.fix


def _check_rust(report: DoctorReport, pin: Pin | None) -> RustToolchain | None:
    try:
        rust = resolve_rust(pin)
    except BuildbpfError as error:
        detail, fix = _fail_from(error)
        report.add("toolchain", DoctorStatus.FAIL, detail, fix)
        return None
    done = probe([rust.cargo, "-V"])
    if done is None or done.returncode != 0:
        fix = "reinstall cargo for this toolchain"
        report.add("cargo", DoctorStatus.FAIL, f"{rust.cargo} -V failed", fix)
    else:
        cargo = parse_cargo_version(done.stdout)
        report.add("cargo", DoctorStatus.OK, f"cargo {cargo.version} at {rust.cargo}")
    report.add("toolchain", DoctorStatus.OK, rust.describe())
    _check_git(report, rust)
    report.add("rust-src", DoctorStatus.OK, str(rust.rust_src))
    done = probe([rust.rustc, "--print", "target-list"])
    targets = set(done.stdout.split()) if done is not None and done.returncode == 0 else set()
    missing = [t for t in BPF_TARGETS if t not in targets]
    if missing:
        report.add(
            "bpf targets",
            DoctorStatus.FAIL,
            f"rustc {rust.rustc_info.release} does not know {', '.join(missing)}",
            "use a newer Rust (1.80+) toolchain",
        )
    else:
        report.add("bpf targets", DoctorStatus.OK, " ".join(BPF_TARGETS) + " (core built with -Z build-std)")
    report.toolchain = {
        "source": rust.source,
        "mode": str(rust.mode),
        "cargo": str(rust.cargo),
        "rustc": str(rust.rustc),
        "rustc_version": rust.rustc_info.release,
        "llvm_version": str(rust.rustc_info.llvm) if rust.rustc_info.llvm else None,
        "sysroot": str(rust.sysroot),
        "rustup_toolchain": rust.rustup_name,
    }
    return rust


def _check_linker(report: DoctorReport, rust: RustToolchain | None, explicit: str | None) -> None:
    major = rust.llvm_major if rust else None
    try:
        choice = resolve_linker(major, explicit)
        linker = choice.require()
    except BuildbpfError as error:
        detail, fix = _fail_from(error)
        report.add("bpf-linker", DoctorStatus.FAIL, detail, fix)
        return
    report.add("bpf-linker", DoctorStatus.OK, linker.describe())
    report.toolchain["bpf_linker"] = str(linker.path)
    report.toolchain["bpf_linker_version"] = str(linker.version) if linker.version else None
    report.toolchain["bpf_linker_llvm"] = str(linker.llvm) if linker.llvm else None
    rustc_llvm = rust.rustc_info.llvm if rust else None
    if rustc_llvm is None or linker.llvm is None:
        report.add("LLVM match", DoctorStatus.WARN, "could not compare LLVM versions")
    elif linker.llvm == rustc_llvm:
        report.add("LLVM match", DoctorStatus.OK, f"rustc and bpf-linker both use LLVM {rustc_llvm}")
    else:
        report.add(
            "LLVM match",
            DoctorStatus.WARN,
            f"same major, different build: rustc LLVM {rustc_llvm}, bpf-linker LLVM {linker.llvm}",
            "usually fine; if BTF looks broken, rebuild bpf-linker on rustc's exact LLVM",
        )


def _check_optional_tools(report: DoctorReport, llvm_major: int | None) -> None:
    bpftool = shutil.which("bpftool")
    if bpftool:
        report.add("bpftool", DoctorStatus.OK, bpftool)
    else:
        report.add(
            "bpftool",
            DoctorStatus.WARN,
            "not found (optional: inspect loaded programs)",
            "apt-get install bpftool",
        )
    names = [f"llvm-objdump-{llvm_major}"] if llvm_major else []
    names.append("llvm-objdump")
    found = next((p for n in names if (p := shutil.which(n))), None)
    if found is None and llvm_major:
        candidate = Path(f"/usr/lib/llvm-{llvm_major}/bin/llvm-objdump")
        found = str(candidate) if candidate.is_file() else None
    if found:
        report.add("llvm-objdump", DoctorStatus.OK, found)
    else:
        report.add(
            "llvm-objdump",
            DoctorStatus.WARN,
            "not found (optional: disassemble objects)",
            f"apt-get install llvm-{llvm_major or 'N'}",
        )


def _check_kernel(report: DoctorReport) -> None:
    report.add("kernel", DoctorStatus.OK, f"Linux {kernel.release()}")
    if kernel.has_vmlinux_btf():
        report.add("kernel BTF", DoctorStatus.OK, str(kernel.VMLINUX_BTF))
    else:
        report.add(
            "kernel BTF",
            DoctorStatus.WARN,
            f"{kernel.VMLINUX_BTF} is missing: fentry/fexit, tp_btf, lsm and CO-RE will not load",
            "use a kernel built with CONFIG_DEBUG_INFO_BTF=y",
        )
    mounts = kernel.bpffs_mounts()
    if mounts:
        report.add("bpffs", DoctorStatus.OK, ", ".join(mounts))
    else:
        report.add(
            "bpffs",
            DoctorStatus.WARN,
            "no BPF filesystem mounted (only needed to pin objects)",
            "mount -t bpf bpf /sys/fs/bpf",
        )
    caps = kernel.effective_capabilities()
    if not kernel.can_load_by_capabilities(caps, os.geteuid()):
        report.add(
            "privilege",
            DoctorStatus.WARN,
            "not root and no CAP_BPF+CAP_PERFMON: `buildbpf check --load` cannot run here",
            "run as root (sudo) to load programs",
        )
        return
    loaded = kernel.try_load()
    if loaded.ok:
        report.add("privilege", DoctorStatus.OK, f"may load programs ({loaded.detail})")
    else:
        report.add(
            "privilege",
            DoctorStatus.WARN,
            loaded.detail,
            "check kernel.unprivileged_bpf_disabled, lockdown and seccomp",
        )


def _check_mechanisms(report: DoctorReport) -> None:
    """One row per attach mechanism: a missing one is a warning (objects still build)."""
    from buildbpf.objects import mechanisms

    privileged = kernel.can_load_by_capabilities(kernel.effective_capabilities(), os.geteuid())
    for mechanism in mechanisms.this_kernel(kernel.try_load if privileged else None).values():
        report.attach_mechanisms.append(asdict(mechanism))
        name = f"attach: {mechanism.title}"
        if mechanism.available:
            note = f"; note: {mechanism.note}" if mechanism.note else ""
            report.add(name, DoctorStatus.OK, f"available [{mechanism.evidence}]{note}")
        elif mechanism.available is None:
            report.add(name, DoctorStatus.WARN, f"{mechanism.reason} [{mechanism.evidence}]")
        else:
            report.add(
                name, DoctorStatus.WARN, f"not available: {mechanism.reason} [{mechanism.evidence}]",
                "such programs build, but this kernel refuses to load them (`check --load`: not verified)"
                if mechanism.refused else "such programs build and load, but cannot attach on this kernel",
            )  # fmt: skip


def _check_git(report: DoctorReport, rust: RustToolchain) -> None:
    """Can the build cargo fetch git dependencies (aya by git, as aya-template and the book do)?"""
    from buildbpf.cargo import gitdeps

    verdict, detail = gitdeps.can_fetch_git(rust.cargo, rust.rustc)
    if verdict:
        report.add("git dependencies", DoctorStatus.OK, f"{rust.cargo} fetches them")
        return
    if verdict is None:
        report.add("git dependencies", DoctorStatus.WARN, f"not checked: {detail}", "install git")
        return
    others = [c for c, r in gitdeps.other_cargos(rust.cargo) if gitdeps.can_fetch_git(c, r)[0]]
    if others:
        report.add(
            "git dependencies", DoctorStatus.OK,
            f"{rust.cargo} cannot fetch them ({detail}); buildbpf fetches them with {others[0]}",
        )  # fmt: skip
    else:
        report.add(
            "git dependencies", DoctorStatus.WARN, f"{rust.cargo} cannot fetch them ({detail})",
            "install rustup's cargo (`rustup toolchain install stable --profile minimal`): buildbpf "
            "fetches git dependencies with it",
        )  # fmt: skip


def diagnose(pin: Pin | None = None, bpf_linker: str | None = None) -> DoctorReport:
    """Run every check; never raises for a problem it can report as a row."""
    report = DoctorReport()
    rust = _check_rust(report, pin)
    _check_linker(report, rust, bpf_linker)
    _check_optional_tools(report, rust.llvm_major if rust else None)
    _check_kernel(report)
    _check_mechanisms(report)
    return report
