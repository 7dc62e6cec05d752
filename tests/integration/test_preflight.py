"""Kernel preflight on the real kernel: doctor's attach-mechanism rows, `check` on a kprobe object.

What this kernel has is read here independently of buildbpf (its exported symbols, its PMUs
and tracefs), so the tests hold on any kernel: ours lacks kprobes (CONFIG_KPROBES off), a
CI machine with kprobes must see them available and the kprobe object attachable.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf, cargo_build_ebpf
from tests.support import skip_or_fail


def kernel_exports(name: str) -> bool | None:
    """Whether /proc/kallsyms lists `name` (None: unreadable, or only the wrong kind)."""
    try:
        text = Path("/proc/kallsyms").read_text()
    except OSError:
        return None
    return any(line.split()[2:3] == [name] and line.split()[1] in "Tt" for line in text.splitlines())


def has_kprobes() -> bool:
    exported = kernel_exports("register_kprobe")
    if exported is None:
        skip_or_fail("/proc/kallsyms is not readable: cannot tell whether this kernel has kprobes")
    return bool(exported)


def has_trace_events() -> bool:
    events = [Path("/sys/kernel/tracing/events"), Path("/sys/kernel/debug/tracing/events")]
    return any(p.is_dir() for p in events) or Path("/sys/bus/event_source/devices/tracepoint").is_dir()


def test_doctor_attach_rows_are_right_for_this_kernel() -> None:
    done = buildbpf("doctor", "--json")
    assert done.returncode in (0, 3), done.stderr
    report = json.loads(done.stdout)
    found = {m["name"]: m for m in report["attach_mechanisms"]}
    assert list(found) == ["kprobe", "uprobe", "tracepoint", "raw_tracepoint", "fentry/fexit", "lsm",
                           "cgroup", "tc", "xdp", "perf_event"]  # fmt: skip
    rows = {c["name"]: c for c in report["checks"]}
    kprobe = found["kprobe"]
    if has_kprobes():
        assert kprobe["available"] is True, kprobe
        assert rows["attach: kprobe/kretprobe"]["status"] == "ok"
    else:
        assert kprobe["available"] is False, kprobe
        assert "CONFIG_KPROBES" in kprobe["reason"], kprobe
        assert rows["attach: kprobe/kretprobe"]["status"] == "warn"
    if has_trace_events():
        assert found["tracepoint"]["available"] is True, found["tracepoint"]
    # the xdp tests of this suite attach XDP programs on this machine
    assert found["xdp"]["available"] is True, found["xdp"]
    human = buildbpf("doctor")
    state = "not available: kprobes are not enabled" if not has_kprobes() else "available ["
    assert any(line.startswith("attach: kprobe/kretprobe") and state in line
               for line in (raw.strip()[6:] for raw in human.stdout.splitlines())), human.stdout  # fmt: skip


@pytest.fixture(scope="module")
def kprobe_object(
    toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory, shared_target: Path
) -> Path:
    workspace = tmp_path_factory.mktemp("preflight") / "common-lib"
    shutil.copytree(FIXTURES / "layouts" / "common-lib", workspace, ignore=shutil.ignore_patterns("target"))
    _, executables = cargo_build_ebpf(toolchain, workspace / "kcount-ebpf", target_dir=shared_target)
    [built] = [e for e in executables if e.name == "kcount"]
    copy = workspace / "kcount.o"
    shutil.copyfile(built, copy)
    return copy


def test_check_says_a_kprobe_cannot_attach_where_kprobes_are_missing(kprobe_object: Path) -> None:
    done = buildbpf("check", "--json", str(kprobe_object))
    assert done.returncode == 0, done.stdout + done.stderr  # not fatal: built for another kernel is fine
    [report] = json.loads(done.stdout)
    assert report["ok"] is True
    human = buildbpf("check", str(kprobe_object))
    assert human.returncode == 0, human.stderr
    if has_kprobes():
        assert report["cannot_attach"] == []
        assert "cannot attach on this kernel" not in human.stdout
        return
    [blocked] = report["cannot_attach"]
    assert (blocked["program"], blocked["mechanism"]) == ("kcount", "kprobe")
    assert blocked["reason"] == "kprobes are not enabled in this kernel (CONFIG_KPROBES)"
    assert any("cannot attach on this kernel" in w for w in report["warnings"]), report["warnings"]
    assert (
        "warning: program kcount (kprobe) cannot attach on this kernel: "
        "kprobes are not enabled in this kernel (CONFIG_KPROBES)"
    ) in human.stdout


def test_check_load_verifies_it_and_still_says_it_cannot_attach(kprobe_object: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("check --load needs root")
    done = buildbpf("check", "--load", str(kprobe_object))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "verifier: kcount passed" in done.stdout  # the verifier cannot tell: it never attaches
    assert ("cannot attach on this kernel" in done.stdout) is not has_kprobes()
