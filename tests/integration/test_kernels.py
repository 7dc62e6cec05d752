"""`check --kernel`: real Debian kernels, downloaded into ~/.cache/buildbpf/kernels (outside
the checkout; a cold cache downloads them, ~14 MB each) and booted under QEMU (KVM or TCG).

Boots 5.10, 6.1 and the newest kernel Debian has. Light on purpose: each VM is a few seconds
under TCG, and the objects are built once per module.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from buildbpf.kernels import fetch, qemu, verify
from buildbpf.toolchain import Toolchain
from tests.integration import descendants
from tests.integration.conftest import FIXTURES, buildbpf, cargo_build_ebpf
from tests.support import skip_or_fail

EXAMPLES = Path(__file__).parents[2] / "examples"
KERNELS = "5.10,6.1,latest"
HELPER_208 = "helper 208 (bpf_ktime_get_tai_ns) does not exist before 6.1"


@pytest.fixture(scope="module", autouse=True)
def vm_tools() -> None:
    for tool in (qemu.QEMU, "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (./bootstrap installs qemu-system-x86)")


@pytest.fixture(scope="module")
def cases(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The kernel-cases object: xdp_tai (helper 208, Linux 6.1), xdp_unchecked, xdp_pass, probe_tai,
    fentry_fileattr (its target arrived in 5.13)."""
    crate = tmp_path_factory.mktemp("cases") / "kernel-cases-ebpf"
    shutil.copytree(FIXTURES / "kernel-cases-ebpf", crate, ignore=shutil.ignore_patterns("target"))
    _, executables = cargo_build_ebpf(toolchain, crate)
    return executables[0]


def matrix_of(*args: str, cwd: Path | None = None) -> tuple[int, dict[str, object]]:
    done = buildbpf("check", *args, "--json", cwd=cwd, timeout=900)
    assert done.stdout.strip(), done.stderr
    return done.returncode, json.loads(done.stdout)["kernels"]


def cells(matrix: dict[str, object]) -> dict[str, dict[str, dict[str, object]]]:
    rows = matrix["rows"]
    assert isinstance(rows, list)
    return {row["program"]: row["cells"] for row in rows}


def test_verdicts_depend_on_the_kernel(cases: Path) -> None:
    code, matrix = matrix_of(str(cases), "--kernel", KERNELS)
    assert code == 5, matrix
    columns = matrix["columns"]
    assert isinstance(columns, list)
    assert [c["request"] for c in columns] == ["5.10", "6.1", "latest"]
    for column in columns:
        assert column["error"] is None, column
        assert column["accel"] in ("kvm", "tcg")
        assert column["packages"] and column["sha256"]
    assert columns[0]["release"].startswith("5.10.") and columns[1]["release"].startswith("6.1.")
    found = cells(matrix)
    # a helper newer than 5.10: refused there, with the reason in words, accepted from 6.1 on
    assert found["xdp_tai"]["5.10"]["status"] == "fail"
    assert found["xdp_tai"]["5.10"]["reason"] == HELPER_208
    assert any("unknown#208" in line for line in found["xdp_tai"]["5.10"]["log_tail"])
    assert found["xdp_tai"]["6.1"]["status"] == "pass"
    assert found["xdp_tai"]["latest"]["status"] == "pass"
    # verified everywhere, but its kprobe target arrived with 6.1 too
    assert found["probe_tai"]["5.10"]["status"] == "cannot attach"
    assert (
        "bpf_ktime_get_tai_ns is not in this kernel's /proc/kallsyms" in found["probe_tai"]["5.10"]["reason"]
    )
    assert found["probe_tai"]["6.1"]["status"] == "pass"
    assert found["probe_tai"]["latest"]["status"] == "pass"
    # a BTF attach target 5.10 lacks: looked up as Aya's loader does, not verified, not failed
    fentry = found["fentry_fileattr"]
    assert fentry["5.10"]["status"] == "cannot attach", fentry
    assert fentry["5.10"]["reason"] == (
        "fentry target `vfs_fileattr_set` is not in this kernel's BTF (no function vfs_fileattr_set)"
    )
    assert fentry["6.1"]["status"] == "pass" and fentry["latest"]["status"] == "pass", fentry
    # refused by every verifier
    for kernel in ("5.10", "6.1", "latest"):
        assert found["xdp_unchecked"][kernel]["status"] == "fail"
        assert found["xdp_pass"][kernel]["status"] == "pass"
        assert found["xdp_pass"][kernel]["insns"] >= 2


def test_text_matrix(cases: Path, tmp_path: Path) -> None:
    junit = tmp_path / "results" / "kernels.xml"
    done = buildbpf("check", str(cases), "--kernel", "5.10", "--junit", str(junit), timeout=600)
    assert done.returncode == 5, done.stderr
    # the same verdicts as JUnit XML: this kernel's gate, then a case per program on 5.10
    import xml.etree.ElementTree as ET

    suites = ET.parse(junit).getroot().findall("testsuite")
    name = suites[1].get("name", "")
    assert name.startswith("Linux 5.10.") and name.endswith("(5.10)"), name
    failed = suites[1].find("testcase[@name='xdp_tai']/failure")
    assert failed is not None and failed.get("message") == f"fail: {HELPER_208}"
    assert suites[1].find("testcase[@name='xdp_pass']/failure") is None
    # each refusal at the source line the verifier refused, from the object's line info
    source = FIXTURES / "kernel-cases-ebpf" / "src" / "main.rs"
    line = next(n for n, text in enumerate(source.read_text().splitlines(), 1) if "REFUSED HERE" in text)
    at = done.stdout.split("kernel-cases-ebpf xdp_unchecked on 5.10: fail:", 1)[1].splitlines()[1]
    assert at.startswith("    at ") and at.endswith(f"src/main.rs:{line}:25"), at
    assert f"kernel-cases-ebpf xdp_tai on 5.10: fail: {HELPER_208}" in done.stdout
    assert "kernel-cases-ebpf fentry_fileattr on 5.10: cannot attach: fentry target" in done.stdout
    assert "under QEMU (" in done.stderr
    # the verdict's lines only; the statistics after it come with --full-log, whole, from the guest
    assert "    | processed " not in done.stdout
    full = buildbpf("check", str(cases), "--kernel", "5.10", "--full-log", timeout=600)
    assert full.returncode == 5, full.stderr
    assert "    | processed " in full.stdout
    assert len(full.stdout.splitlines()) > len(done.stdout.splitlines())


def test_full_log_brings_the_whole_log_out_of_the_guest(cases: Path) -> None:
    # without --full-log a guest sends a log's last 4000 characters; this one is far longer
    _, matrix = matrix_of(str(cases), "--kernel", "5.10", "--full-log")
    cell = cells(matrix)["xdp_long_refusal"]["5.10"]
    assert cell["status"] == "fail", cell
    log = cell["log_tail"]
    assert isinstance(log, list)
    assert sum(len(line) + 1 for line in log) > 4000
    assert log[0].startswith(("func#0", "0: ")), log[:3]  # from its first instruction
    assert any(line.startswith("processed ") for line in log)


@pytest.mark.parametrize("example", ["xdp-counter", "connect-tracer"])
def test_examples_pass_on_every_kernel(toolchain: Toolchain, tmp_path: Path, shared_target: Path,
                                       example: str) -> None:  # fmt: skip
    workspace = tmp_path / example
    shutil.copytree(EXAMPLES / example, workspace, ignore=shutil.ignore_patterns("target", ".cargo"))
    crate = workspace / f"{example}-ebpf"
    _, executables = cargo_build_ebpf(toolchain, crate, target_dir=shared_target)
    code, matrix = matrix_of(str(executables[0]), "--kernel", KERNELS)
    assert code == 0, matrix
    found = cells(matrix)
    assert found
    for program, by_kernel in found.items():
        assert set(by_kernel) == {"5.10", "6.1", "latest"}, program
        assert all(cell["status"] == "pass" for cell in by_kernel.values()), (program, by_kernel)


def test_a_guest_that_panics_is_an_infrastructure_error(cases: Path, tmp_path: Path) -> None:
    # an init the kernel cannot execute: "Kernel panic - not syncing: No working init found"
    not_init = tmp_path / "not-an-init"
    not_init.write_bytes(b"\x7fELF, but not really")
    result = verify.check([(cases, "cases", {})], ["5.10"], not_init, timeout=60)
    [column] = result.columns
    assert column.error is not None and "panicked" in column.error, column
    assert "Kernel panic" in column.error
    assert not result.rows  # nothing passes, nothing fails: there is no verdict
    assert result.exit_code() == 9


def test_an_image_that_does_not_boot_is_exit_9(cases: Path, tmp_path: Path) -> None:
    image = tmp_path / "bzImage"
    image.write_text("not a kernel\n")
    code, matrix = matrix_of(str(cases), "--kernel-image", str(image))
    assert code == 9
    [column] = matrix["columns"]  # type: ignore[misc]
    assert "end marker" in column["error"]


def test_a_hung_guest_is_killed_at_the_timeout(tmp_path: Path) -> None:
    kernel = fetch.resolve("5.10")
    initrd = tmp_path / "empty.cpio"
    initrd.write_bytes(b"")
    started = time.monotonic()
    # no init, and its console on a screen the VM does not have (-vga none): the kernel panics
    # where nobody reads it and waits forever (panic=0)
    run = qemu.boot(kernel.vmlinuz, initrd, tmp_path, timeout=4, cmdline="console=tty0 panic=0")
    assert 4 <= time.monotonic() - started < 15
    assert run.error == "no verdict within 4 s (the guest hung or is very slow)"
    assert not run.ended


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_no_vm_outlives_buildbpf(cases: Path, sig: signal.Signals) -> None:
    # Ctrl-C and SIGTERM stop every VM and say so; after SIGKILL (nothing left to say it) the
    # VMs die anyway, not 90 s later or never (a hung guest)
    mark, env = descendants.new_mark()
    child = subprocess.Popen([sys.executable, "-m", "buildbpf", "check", str(cases), "--kernel", "6.1"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        descendants.wait_for(mark, qemu.QEMU, 120, but=child.pid)
        time.sleep(0.5)
        child.send_signal(sig)
        _, err = child.communicate(timeout=30)
    finally:
        child.kill()
        child.wait()
    seconds = descendants.gone_within(mark, 3.0)
    print(f"{sig.name}: the last VM was gone {seconds:.2f} s after buildbpf")
    if sig != signal.SIGKILL:
        code, why = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "SIGTERM")}[sig]
        assert child.returncode == code, err.decode()[-2000:]
        assert err.decode().splitlines()[-1] == f"buildbpf: interrupted: {why}"


def test_kernels_lists_the_table_and_the_cache() -> None:
    fetch.resolve("5.10")
    done = buildbpf("kernels", "--json")
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["table"]["5.10"]["suite"] == "bullseye-security"
    assert any(k["series"] == "5.10" for k in data["cached"])
    assert Path(next(k["vmlinuz"] for k in data["cached"] if k["series"] == "5.10")).is_file()
