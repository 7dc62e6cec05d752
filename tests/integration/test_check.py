"""`buildbpf check` on real objects, and on thousands of corrupted ones."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildbpf.objects import verifier
from buildbpf.objects.report import describe
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf, cargo_build_ebpf
from tests.integration.mutations import MUTATION, mutate
from tests.support import skip_or_fail

EXAMPLES = Path(__file__).parents[2] / "examples"


@pytest.fixture(scope="module")
def real_object(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> bytes:
    workdir = tmp_path_factory.mktemp("check")
    crate = workdir / "minimal-ebpf"
    shutil.copytree(FIXTURES / "minimal-ebpf", crate, ignore=shutil.ignore_patterns("target"))
    _, executables = cargo_build_ebpf(toolchain, crate)
    return executables[0].read_bytes()


def test_minimal_object_report(real_object: bytes, tmp_path: Path) -> None:
    path = tmp_path / "minimal.o"
    path.write_bytes(real_object)
    report = describe(path, btf_required=True)
    assert [(p.function, p.section, p.type) for p in report.programs] == [("xdp_pass", "xdp", "xdp")]
    assert report.programs[0].instructions >= 2
    assert (report.license, report.gpl_compatible, report.btf) == ("GPL", True, True)
    assert report.size == len(real_object)
    # `*mut c_void` in the signature becomes BTF `ENUM c_void`, which BPF_BTF_LOAD refuses (PITFALLS #9)
    assert any("ENUM c_void" in w for w in report.warnings), report.warnings
    assert report.ok, report.problems


def test_example_workspace_check(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    workspace = tmp_path / "xdp-counter"
    shutil.copytree(EXAMPLES / "xdp-counter", workspace, ignore=shutil.ignore_patterns("target", ".cargo"))
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    assert buildbpf("build", "--release", cwd=workspace, env=env).returncode == 0
    # another workspace's object in the shared target dir is not this workspace's to check
    # (gone again afterwards: `clean --all` rightly leaves a target dir holding a stranger's file)
    foreign = shared_target / "buildbpf" / "bpfel-unknown-none" / "someone-elses"
    foreign.write_bytes(b"")
    try:
        done = buildbpf("check", "--json", cwd=workspace, env=env)
    finally:
        foreign.unlink()
    assert done.returncode == 0, done.stdout + done.stderr
    reports = {Path(r["path"]).name: r for r in json.loads(done.stdout)}
    assert list(reports) == ["xdp-counter"]
    report = reports["xdp-counter"]
    assert report["ok"]
    assert [(p["function"], p["type"]) for p in report["programs"]] == [("xdp_counter", "xdp")]
    assert report["maps"] == [
        {"name": "PACKETS", "type": "percpu_array", "key_size": 4, "value_size": 8, "max_entries": 1}
    ]
    assert report["undefined"] == []
    human = buildbpf("check", cwd=workspace, env=env)
    assert "program xdp_counter: xdp" in human.stdout


def test_check_exit_code_for_a_bad_object(tmp_path: Path) -> None:
    bad = tmp_path / "bitcode.o"
    bad.write_bytes(b"BC\xc0\xde" + b"\0" * 60)
    done = buildbpf("check", str(bad))
    assert done.returncode == 5
    assert "LLVM bitcode" in done.stdout
    assert "Traceback" not in done.stderr


def test_every_truncation_gets_a_verdict(real_object: bytes, tmp_path: Path) -> None:
    path = tmp_path / "cut.o"
    for length in range(0, len(real_object), 97):
        path.write_bytes(real_object[:length])
        report = describe(path)
        assert not report.ok, length


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8))
def test_random_byte_flips_never_crash(
    real_object: bytes, tmp_path: Path, flips: list[tuple[int, int]]
) -> None:
    data = bytearray(real_object)
    for position, value in flips:
        data[position % len(data)] = value
    path = tmp_path / "flipped.o"
    path.write_bytes(bytes(data))
    report = describe(path)
    assert isinstance(report.ok, bool)


# --- the static check against Aya's own parser (the helper's --parse-only) ------------------------


@pytest.fixture(scope="module")
def loader(toolchain: Toolchain) -> Path:
    return verifier.loader_binary(toolchain.rust)


class Objects(list[bytes]):
    """Real objects; a short repr, since hypothesis prints the arguments of a failing example."""

    def __repr__(self) -> str:
        return f"<{len(self)} real objects>"


@pytest.fixture(scope="module")
def objects(
    real_object: bytes, toolchain: Toolchain, shared_target: Path, tmp_path_factory: pytest.TempPathFactory
) -> Objects:
    """The minimal object, and one with a legacy map, map relocations, BTF.ext and three programs."""
    crate = tmp_path_factory.mktemp("objects") / "load-cases-ebpf"
    shutil.copytree(FIXTURES / "load-cases-ebpf", crate)
    _, executables = cargo_build_ebpf(toolchain, crate, target_dir=shared_target)
    return Objects([real_object, executables[0].read_bytes()])


def agrees_with_aya(loader: Path, path: Path, data: bytes) -> None:
    """Where Aya's parser refuses the object, `check` does; where Aya accepts it, `check` does not
    call it corrupt. Each verdict within a second and 64 MiB, and never an exception."""
    path.write_bytes(data)
    refusal = verifier.parse_object(loader, path)
    tracemalloc.start()
    started = time.monotonic()
    try:
        report = describe(path)
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    assert time.monotonic() - started < 1.0
    assert peak < 64 << 20
    if refusal is not None:
        assert not report.ok, f"Aya refuses it ({refusal}) but check accepts it"
    else:
        assert report.corrupt is None, f"Aya accepts it but check calls it corrupt: {report.corrupt}"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 1), mutations=st.lists(MUTATION, min_size=1, max_size=3))
def test_static_check_refuses_what_aya_refuses_and_only_that(
    objects: Objects, loader: Path, tmp_path: Path, which: int, mutations: list[tuple[Any, ...]]
) -> None:
    agrees_with_aya(loader, tmp_path / "mutated.o", mutate(objects[which], mutations))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    which=st.integers(0, 1),
    flips=st.lists(st.tuples(st.integers(min_value=0), st.integers(0, 255)), min_size=1, max_size=8),
)
def test_byte_flips_agree_with_aya(
    objects: Objects, loader: Path, tmp_path: Path, which: int, flips: list[tuple[int, int]]
) -> None:
    agrees_with_aya(loader, tmp_path / "flipped.o", mutate(objects[which], [("flip", *f) for f in flips]))


def test_a_panic_in_aya_is_one_verdict_line(real_object: bytes, loader: Path, tmp_path: Path) -> None:
    """.BTF.ext func_info records of size 0 make aya-obj panic (`chunks(0)`): `check` calls the
    object corrupt, and `check --load` shows the panic as one line, without a backtrace."""
    path = tmp_path / "panics.o"
    path.write_bytes(mutate(real_object, [("btf_ext_rec_size", 0, 0)]))
    refusal = verifier.parse_object(loader, path)
    assert refusal is not None and "panicked" in refusal, refusal
    report = describe(path)
    assert report.corrupt is not None and not report.ok
    require_root()
    env = {**os.environ, "RUST_BACKTRACE": "full"}
    done = buildbpf("check", "--load", str(path), env=env)
    assert done.returncode == 5, done.stdout + done.stderr
    assert [line for line in done.stdout.splitlines() if "panicked" in line] == [
        "      problem: load: Aya's loader panicked on this object: chunk size must be non-zero"
    ], done.stdout
    for noise in ("backtrace", "thread 'main'", "RUST_BACKTRACE", "Traceback", "src/"):
        assert noise not in done.stdout + done.stderr


def test_bytes_aya_prints_are_text(real_object: bytes, loader: Path, tmp_path: Path) -> None:
    """A license without its NUL: aya-obj prints the bytes as `[71, 80, 76, 88]`; buildbpf says
    `"GPLX" (4 bytes)`, on the host as in every guest (one parser of the helper's lines)."""
    assert real_object.count(b"GPL\0") == 1
    path = tmp_path / "license.o"
    path.write_bytes(real_object.replace(b"GPL\0", b"GPLX"))
    refusal = verifier.parse_object(loader, path)
    assert refusal is not None and 'invalid license `"GPLX" (4 bytes)`' in refusal, refusal
    assert "[71, 80" not in refusal


# --- --load: the real kernel verifier ---------------------------------------------------------


def require_root() -> None:
    if os.geteuid() != 0:
        skip_or_fail("loading programs needs root")


def kernel_objects() -> tuple[set[int], set[int]]:
    """Ids of every program and map in the kernel right now (bpftool)."""
    bpftool = shutil.which("bpftool")
    if bpftool is None:
        skip_or_fail("bpftool is not installed")
        raise AssertionError("unreachable")
    ids = []
    for kind in ("prog", "map"):
        done = subprocess.run([bpftool, "-j", kind, "show"], capture_output=True, text=True, check=True)
        ids.append({item["id"] for item in json.loads(done.stdout or "[]")})
    return ids[0], ids[1]


@pytest.mark.parametrize("example", ["xdp-counter", "connect-tracer"])
def test_examples_pass_the_kernel_verifier(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path, example: str
) -> None:
    require_root()
    workspace = tmp_path / example
    shutil.copytree(EXAMPLES / example, workspace, ignore=shutil.ignore_patterns("target", ".cargo"))
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    assert buildbpf("build", "--release", cwd=workspace, env=env).returncode == 0
    obj = shared_target / "buildbpf" / "bpfel-unknown-none" / example
    cwd = workspace
    if example == "xdp-counter":
        # an empty cache: the verifier helper is built first, and --json must stay clean JSON;
        # from the eBPF crate's directory, whose .cargo/config.toml (target = bpfel) must not
        # apply to the helper, a host program
        env["BUILDBPF_CACHE_DIR"] = str(tmp_path / "empty-cache")
        cwd = workspace / f"{example}-ebpf"
        assert (cwd / ".cargo" / "config.toml").is_file()
    before = kernel_objects()
    done = buildbpf("check", "--load", "--json", str(obj), env=env, cwd=cwd)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)[0]
    assert report["loads"], report
    for load in report["loads"]:
        assert load["ok"], load
        assert load["translated_insns"] > 0
        assert load["jited_bytes"] > 0
    assert kernel_objects() == before  # nothing left in the kernel


def test_verifier_rejection_is_shown(toolchain: Toolchain, tmp_path: Path) -> None:
    require_root()
    crate = tmp_path / "rejected-ebpf"
    shutil.copytree(FIXTURES / "rejected-ebpf", crate)
    _, executables = cargo_build_ebpf(toolchain, crate)
    before = kernel_objects()
    done = buildbpf("check", "--load", str(executables[0]))
    assert done.returncode == 5, done.stdout + done.stderr
    assert "xdp_unchecked REJECTED" in done.stdout
    assert "invalid access to packet" in done.stdout  # the verifier's own words
    assert kernel_objects() == before
    # where in the source: the line the fixture marks, from the object's line info
    source = crate / "src" / "main.rs"
    line = next(n for n, text in enumerate(source.read_text().splitlines(), 1) if "REFUSED HERE" in text)
    assert f"at {source}:{line}:" in done.stdout, done.stdout
    assert "*((data + 12) as *const u8)" in done.stdout  # the line itself
    # in GitHub Actions: an annotation at that line, relative to the checkout (the cwd)
    env = {**os.environ, "GITHUB_ACTIONS": "true"}
    annotated = buildbpf("check", "--load", str(executables[0]), cwd=crate, env=env)
    assert any(a.startswith(f"::error file=src/main.rs,line={line},col=") and "invalid access to packet" in a
               for a in annotated.stdout.splitlines()), annotated.stdout  # fmt: skip


def test_object_without_license_is_noted_and_loads(toolchain: Toolchain, tmp_path: Path) -> None:
    # the kernel is the judge: no license section + a GPL-only helper loads with Aya
    crate = tmp_path / "no-license-ebpf"
    shutil.copytree(FIXTURES / "no-license-ebpf", crate)
    _, executables = cargo_build_ebpf(toolchain, crate)
    report = describe(executables[0])
    assert report.ok, report.problems
    assert report.license is None
    assert report.helpers == ["bpf_probe_read_kernel"]
    assert report.warnings == [w for w in report.warnings if w.startswith("BTF")]
    assert any('tells the kernel "GPL"' in n for n in report.notes)
    require_root()
    done = buildbpf("check", "--load", str(executables[0]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "xdp_pass passed" in done.stdout
    assert "note: no `license` section" in done.stdout


def test_a_big_endian_object_is_not_verified_here_not_rejected(toolchain: Toolchain, tmp_path: Path) -> None:
    # Aya refuses a bpfeb object on a little-endian kernel ("BTF error"): no verifier judged it,
    # so it is not a rejection; `--kernel` does not boot x86_64 guests for it either
    crate = tmp_path / "minimal-ebpf"
    shutil.copytree(FIXTURES / "minimal-ebpf", crate)
    _, executables = cargo_build_ebpf(toolchain, crate, "bpfeb", btf=False)
    require_root()
    done = buildbpf("check", "--load", str(executables[0]))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not verified here: a bpfeb (big-endian) object loads only into a big-endian kernel" in done.stdout
    done = buildbpf("check", "--kernel", "5.10", "--json", str(executables[0]))
    assert done.returncode == 0, done.stdout + done.stderr
    kernels = json.loads(done.stdout)["kernels"]
    assert kernels["columns"][0]["booted"] is False
    assert {c["status"] for row in kernels["rows"] for c in row["cells"].values()} == {"not verified"}


def test_load_without_privilege_is_a_clear_error(real_object: bytes, tmp_path: Path) -> None:
    require_root()
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        skip_or_fail("setpriv (util-linux) is not installed")
    path = tmp_path / "x.o"
    path.write_bytes(real_object)
    path.chmod(0o644)
    tmp_path.chmod(0o755)
    done = subprocess.run(
        [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", "--inh-caps=-all",
         "--bounding-set=-all", sys.executable, "-m", "buildbpf", "check", "--load", str(path)],
        capture_output=True, text=True, check=False, env={**os.environ, "HOME": str(tmp_path)},
        cwd=tmp_path, timeout=120,
    )  # fmt: skip
    assert done.returncode == 7, done.stdout + done.stderr
    assert "needs root or CAP_BPF+CAP_PERFMON" in done.stderr
    assert "Traceback" not in done.stderr


def test_load_verdicts_are_the_loaders(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    """fentry without a target, an LSM program and a map asking to be pinned (no bpffs on the
    host): none of them is a rejection; each is verified or "not verified here" with why."""
    require_root()
    crate = tmp_path / "load-cases-ebpf"
    shutil.copytree(FIXTURES / "load-cases-ebpf", crate)
    _, executables = cargo_build_ebpf(toolchain, crate, target_dir=shared_target)
    obj = str(executables[0])
    before = kernel_objects()
    done = buildbpf("check", "--load", "--json", obj)
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)[0]
    loads = {load["name"]: load for load in report["loads"]}
    assert set(loads) == {"count", "guard", "traced"}, report
    assert loads["count"]["status"] == "verified", loads["count"]  # its map pinned in a private bpffs
    assert loads["traced"]["status"] == "not verified"
    assert "--attach-target traced=FUNCTION" in loads["traced"]["reason"]
    # the LSM program: verified where the kernel lets LSM programs load, else not verified,
    # with the kernel's reason; never "rejected"
    assert loads["guard"]["status"] in ("verified", "not verified"), loads["guard"]
    assert report["ok"], report["problems"]
    assert kernel_objects() == before
    assert not Path("/sys/fs/bpf/SEEN").exists()  # the pin lived in the helper's own bpffs

    # a target from the command line: the kernel judges it (or refuses the type before verifying)
    done = buildbpf("check", "--load", "--json", obj, "--attach-target", "traced=vfs_read")
    assert done.returncode == 0, done.stdout + done.stderr
    traced = {load["name"]: load for load in json.loads(done.stdout)[0]["loads"]}["traced"]
    assert traced["status"] in ("verified", "not verified"), traced
    assert traced["needs"] is None  # it was tried

    # without CAP_SYS_ADMIN no private bpffs: pinning fails, said as such, and it is no verdict
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        skip_or_fail("setpriv (util-linux) is not installed")
        return
    done = subprocess.run(
        [setpriv, "--inh-caps=-sys_admin,-perfmon", "--bounding-set=-sys_admin,-perfmon",
         sys.executable, "-m", "buildbpf", "check", "--load", obj],
        capture_output=True, text=True, check=False, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    assert "requested pinning" in done.stdout
    assert "mount -t bpf bpf /sys/fs/bpf" in done.stdout
    assert "REJECTED" not in done.stdout


def test_btf_off_is_checked_as_built(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    """`btf = false` in buildbpf.toml: `build --check` and `check` judge the object without BTF
    as it was built, where they used to fail with "BTF is on" (exit 5; issue #11, item 14)."""
    workspace = tmp_path / "xdp-counter"
    shutil.copytree(EXAMPLES / "xdp-counter", workspace, ignore=shutil.ignore_patterns("target", ".cargo"))
    (workspace / "buildbpf.toml").write_text("[crates.xdp-counter-ebpf]\nbtf = false\n")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    done = buildbpf("build", "--release", "--check", "--message-format", "json", cwd=workspace, env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [report] = json.loads(done.stdout)["checks"]
    assert (report["ok"], report["btf"]) == (True, False)
    assert any("btf = false (buildbpf.toml:2 crates.xdp-counter-ebpf.btf)" in n for n in report["notes"])
    assert buildbpf("check", cwd=workspace, env=env).returncode == 0
    assert buildbpf("check", "--btf", cwd=workspace, env=env).returncode == 5  # the explicit override
    # the setting gone since: the object is still judged as it was built (recorded beside it)
    (workspace / "buildbpf.toml").write_text("")
    since = buildbpf("check", "--json", cwd=workspace, env=env)
    assert since.returncode == 0, since.stdout[-3000:] + since.stderr[-2000:]
    assert any("as it was built" in n for n in json.loads(since.stdout)[0]["notes"])
    (workspace / "buildbpf.toml").write_text("[crates.xdp-counter-ebpf]\nbtf = false\n")
    named = buildbpf("check", "--json", report["path"], env=env)
    assert named.returncode == 0, named.stdout
    assert any(n.startswith("no .BTF section (not required") for n in json.loads(named.stdout)[0]["notes"])


def _descendants(pid: int) -> set[int]:
    """Every live process below `pid`, from /proc."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] != "Z":  # a zombie has exited
            parents[int(stat.parent.name)] = int(fields[1])
    found: set[int] = set()
    frontier = {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def test_sigkill_during_check_load_leaves_nothing(real_object: bytes, tmp_path: Path) -> None:
    """Killed at any moment (building the helper, loading), `check --load` leaves no process
    and no program or map in the kernel."""
    import time

    require_root()
    path = tmp_path / "x.o"
    path.write_bytes(real_object)
    before = kernel_objects()
    empty = dict(os.environ, BUILDBPF_CACHE_DIR=str(tmp_path / "cache"))  # killed building the helper
    runs = [(empty, 0.5), (empty, 3.0)]
    assert buildbpf("check", "--load", str(path)).returncode == 0  # the helper is built: killed loading
    runs += [(dict(os.environ), delay) for delay in (0.05, 0.1, 0.2, 0.3, 0.5)]
    for env, delay in runs:
        proc = subprocess.Popen([sys.executable, "-m", "buildbpf", "check", "--load", str(path)], env=env,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        time.sleep(delay)
        children = _descendants(proc.pid) - {p for c in _descendants(proc.pid) for p in _descendants(c)}
        below = _descendants(proc.pid)
        proc.kill()
        proc.wait()
        # its children (cargo, the helper) die with it at once; a rustc cargo started
        # finishes its one unit and exits (it holds no lock)
        for group, seconds in ((children, 10), (below, 180)):
            deadline = time.monotonic() + seconds
            while group & _descendants(1) and time.monotonic() < deadline:
                time.sleep(0.1)
            survivors = group & _descendants(1)
            assert not survivors, f"outlived a killed check --load (after {delay} s): {survivors}"
        assert kernel_objects() == before


OURS = {"tasks": 2192, "pid": 2416, "tgid": 2420}  # layout-ebpf's task_struct: Debian 6.1's


def _bpftool_offsets(btf: Path, type_name: str, fields: list[str]) -> dict[str, int]:
    """Byte offsets of fields of a struct in a BTF file, as bpftool reads them."""
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin")
    if bpftool is None or not btf.exists():
        skip_or_fail(f"needs bpftool and the BTF {btf}")
    dump = subprocess.run([str(bpftool), "btf", "dump", "file", str(btf)],
                          capture_output=True, text=True, check=True).stdout  # fmt: skip
    found: dict[str, int] = {}
    inside = False
    for line in dump.splitlines():
        if line.startswith("["):
            inside = f"STRUCT '{type_name}' " in line
        elif inside and line.strip().startswith("'"):
            name, *rest = line.strip().split()
            bits = next(r.split("=")[1] for r in rest if r.startswith("bits_offset="))
            if name.strip("'") in fields:
                found[name.strip("'")] = int(bits) // 8
    return found


def _expected(kernel: dict[str, int], where: str) -> list[str]:
    return [f"task_struct.{name}: byte {OURS[name]} here, {kernel[name]} {where}"
            for name in OURS if kernel[name] != OURS[name]]  # fmt: skip


@pytest.fixture(scope="module")
def layout_object(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    crate = tmp_path_factory.mktemp("layout") / "layout-ebpf"
    shutil.copytree(FIXTURES / "layout-ebpf", crate)
    _, [obj] = cargo_build_ebpf(toolchain, crate, target_dir=crate.parent / "target")
    return obj


def test_kernel_struct_layouts_against_this_kernel(layout_object: Path) -> None:
    """task_struct bindings of Debian 6.1's layout and list_head: check compares each field
    with this kernel's BTF, whose offsets bpftool reads here independently."""
    kernel = _bpftool_offsets(Path("/sys/kernel/btf/vmlinux"), "task_struct", list(OURS))
    done = buildbpf("check", str(layout_object), "--json")
    assert done.returncode == 0, done.stderr  # a warning by default
    [report] = json.loads(done.stdout)
    by_type = {t["type"]: t for t in report["kernel_types"]}
    assert set(by_type) == {"task_struct", "list_head", "sock_common"}
    assert by_type["list_head"]["same"] and by_type["list_head"]["fields"] == 2
    # the offsets the code was compiled with, as the bindings lay the struct out
    compiled = {m["name"]: m for m in by_type["task_struct"]["members"]}
    assert {name: compiled[name]["bit_offset"] // 8 for name in OURS} == OURS
    assert compiled["pid"]["bits"] == 32 and by_type["list_head"]["members"][1]["bit_offset"] == 64
    # read through bindgen's anonymous unions, as the kernel's anonymous members: every field found
    assert by_type["sock_common"]["same"] and by_type["sock_common"]["fields"] == 8
    expected = _expected(kernel, f"on this kernel ({os.uname().release})")
    assert by_type["task_struct"]["differences"] == expected
    if expected:
        moved = kernel["pid"] != OURS["pid"]
        assert any("bpf_get_current_pid_tgid" in w for w in report["warnings"]) == moved
        text = buildbpf("check", str(layout_object)).stdout
        assert "against this kernel: list_head (same), sock_common (same), task_struct (differs)" in text
        strict = buildbpf("check", str(layout_object), "--strict-layout")
        assert strict.returncode == 5 and "problem: kernel struct layout: task_struct." in strict.stdout


def test_kernel_struct_layouts_on_debian_kernels(layout_object: Path, toolchain: Toolchain) -> None:
    """The matrix's layout row over three Debian kernels: `same` on 6.1 (where the bindings come
    from), the fields that moved on 5.10 and on the newest kernel, with their offsets as bpftool
    reads them from the BTF in each image; exit 5 with --strict-layout (0 without: a warning)."""
    from buildbpf.kernels import fetch, image_btf

    done = buildbpf("check", str(layout_object), "--kernel", "5.10,6.1,latest", "--json", "--strict-layout")
    assert done.returncode == 5, done.stderr[-3000:]
    [row] = json.loads(done.stdout)["kernels"]["layouts"]
    assert row["types"] == ["list_head", "sock_common", "task_struct"]
    assert row["cells"]["6.1"] == {"status": "same", "differences": [], "reason": None}
    for request in ("5.10", "latest"):
        kernel = fetch.resolve(request)
        btf = layout_object.parent / f"btf-{request}"
        btf.write_bytes(image_btf.btf_of(kernel.vmlinuz, kernel.sha256))
        offsets = _bpftool_offsets(btf, "task_struct", list(OURS))
        assert row["cells"][request]["status"] == "differs", row
        assert row["cells"][request]["differences"] == _expected(offsets, f"on {request}") != []
