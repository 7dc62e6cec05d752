"""Every program type `buildbpf init` offers scaffolds a workspace that builds, passes the
artifact gate, and (where this kernel can) loads and attaches."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from buildbpf.objects import gate
from buildbpf.scaffold.lockfile import LOCK_FILE, PLACEHOLDER, own_crates
from buildbpf.scaffold.program_types import load_program_types
from buildbpf.scaffold.templates import templates_root
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import buildbpf
from tests.support import skip_or_fail

PROGRAM_TYPES = load_program_types()

def project_name(kind: str) -> str:
    return "p-" + kind.replace("_", "-")


def scaffold_and_build(kind: str, tmp_path: Path, target_dir: Path) -> Path:
    project = tmp_path / project_name(kind)
    done = buildbpf("init", str(project), "--program-type", kind)
    assert done.returncode == 0, done.stderr
    env = dict(os.environ, CARGO_TARGET_DIR=str(target_dir))
    built = buildbpf("build", "--release", "--message-format", "json", cwd=project, env=env)
    assert built.returncode == 0, built.stderr[-5000:]
    objects = json.loads(built.stdout)["objects"]
    assert [o["bin"] for o in objects] == [project_name(kind)]
    checked = gate.inspect(Path(objects[0]["path"]), target="bpfel")
    assert checked.ok, checked.problems
    assert checked.programs, "no program section"
    program = PROGRAM_TYPES[kind]
    assert checked.programs == [program.section.format_map(program.options)], "type.toml's section"
    return target_dir / "release" / project_name(kind)


def user_cargo_env(toolchain: Toolchain, target_dir: Path) -> dict[str, str]:
    """What a user's plain `cargo` sees after `buildbpf build`: this rustc, no bootstrap."""
    env = {k: v for k, v in os.environ.items() if k != "RUSTC_BOOTSTRAP"}
    objects = target_dir / "buildbpf" / "bpfel-unknown-none"
    return {**env, "RUSTC": str(toolchain.rust.rustc), "CARGO_TARGET_DIR": str(target_dir),
            "BUILDBPF_OBJECTS": str(objects)}  # fmt: skip


@pytest.mark.parametrize("kind", list(PROGRAM_TYPES))
def test_every_type_builds_without_warnings_checks_and_lints(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path, kind: str
) -> None:
    """Every program type builds, passes the gate with no buildbpf warning about its object
    (BTF included: issue #14 item 7), and `cargo check --workspace` (what an editor runs)
    and `buildbpf lint -- -D warnings` pass on the generated workspace (item 5)."""
    loader = scaffold_and_build(kind, tmp_path, shared_target)
    assert loader.is_file()
    project = tmp_path / project_name(kind)
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    # attach targets depend on this machine (tracefs, libraries): the object's own warnings
    checked = buildbpf("check", "--json", "--no-attach-targets", cwd=project, env=env)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    [report] = json.loads(checked.stdout)
    assert report["warnings"] == [], report["warnings"]
    # as an editor runs it: no BUILDBPF_OBJECTS (the userspace build.rs embeds a stand-in)
    user_env = {k: v for k, v in user_cargo_env(toolchain, shared_target).items() if k != "BUILDBPF_OBJECTS"}
    done = subprocess.run([str(toolchain.rust.cargo), "check", "--workspace"], cwd=project, env=user_env,
                          capture_output=True, text=True, timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, done.stderr[-5000:]
    if not (toolchain.rust.rustc.parent / "cargo-clippy").is_file():
        skip_or_fail(f"no cargo-clippy beside {toolchain.rust.rustc} (bootstrap installs it)")
    linted = buildbpf("lint", "--", "-D", "warnings", cwd=project, env=env)
    assert linted.returncode == 0, linted.stderr[-5000:]
    assert "clippy passed: eBPF crates" in linted.stdout
    assert "clippy passed: userspace crates" in linted.stdout


def kernel_has_kprobes() -> bool:
    return Path("/sys/bus/event_source/devices/kprobe/type").exists()


@pytest.mark.parametrize("kind", ["xdp", "tracepoint", "fentry", "kprobe"])
def test_loader_attaches_in_this_kernel(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path, kind: str
) -> None:
    if os.geteuid() != 0:
        skip_or_fail("loading programs needs root")
    loader = scaffold_and_build(kind, tmp_path, shared_target)
    done = subprocess.run(
        [str(loader), "--seconds", "1"], capture_output=True, text=True, timeout=120, check=False
    )
    if kind == "kprobe" and not kernel_has_kprobes():
        # This kernel is built without CONFIG_KPROBES: the loader must say so, not crash.
        assert done.returncode != 0
        assert "cannot attach kprobes" in done.stderr, done.stderr
        return
    if kind == "fentry" and done.returncode != 0:
        # Some kernels (this CI's Firecracker build among them) refuse BPF trampoline
        # programs with EPERM even for root; the loader must explain that, not crash.
        assert "EPERM" in done.stderr, done.stderr
        assert "BPF trampoline" in done.stderr, done.stderr
        return
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"attached {project_name(kind).replace('-', '_')}" in done.stdout
    events = int(done.stdout.split("\nevents:")[1].split()[0])
    assert events > 0, done.stdout
    # the program's aya-log lines reach userspace, which prints them
    assert f"[INFO] {project_name(kind).replace('-', '_')}:" in done.stdout, done.stdout
    if kind == "xdp":  # and its ring buffer: one event per packet
        assert "event: " in done.stdout, done.stdout
        assert int(done.stdout.split("ring events:")[1].split()[0]) > 0, done.stdout


def cargo(toolchain: Toolchain, project: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`cargo ARGS` in `project` from the cache (offline), else online (nothing cached yet)."""
    env = {**os.environ, **toolchain.rust.cargo_env()}
    for extra in (("--offline",), ()):
        done = subprocess.run([str(toolchain.rust.cargo), *args, *extra], cwd=project, env=env,
                              capture_output=True, text=True, check=False)  # fmt: skip
        if done.returncode == 0:
            break
    return done


def test_the_shipped_lock_fits_the_templates(toolchain: Toolchain, tmp_path: Path) -> None:
    """templates/Cargo.lock, which `init` writes (and whose packages `init` refuses as project
    names), is one cargo keeps as it is for the templates' manifests; BUILDBPF_UPDATE_GOLDEN=1
    resolves it again and rewrites it."""
    project = tmp_path / PLACEHOLDER
    assert buildbpf("init", str(project)).returncode == 0
    shipped = templates_root() / LOCK_FILE
    if os.environ.get("BUILDBPF_UPDATE_GOLDEN"):
        (project / LOCK_FILE).unlink()
        done = cargo(toolchain, project, "generate-lockfile")
        assert done.returncode == 0, done.stderr
        shipped.write_text((project / LOCK_FILE).read_text())
    done = cargo(toolchain, project, "metadata", "--format-version", "1", "--locked")
    assert done.returncode == 0, f"{shipped} does not fit the templates: {done.stderr[-2000:]}"
    assert (project / LOCK_FILE).read_text() == shipped.read_text()


def test_a_new_workspace_builds_offline_on_the_shipped_lock(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    """No online resolution (its `available: v0.16.0, requires Rust 1.98.0` lines looked like
    failures): the first build uses the versions the templates were tested with."""
    project = tmp_path / "offline-demo"
    assert buildbpf("init", str(project)).returncode == 0
    lock = project / LOCK_FILE
    assert lock.is_file(), "init wrote no Cargo.lock"
    written = lock.read_text()
    fetched = cargo(toolchain, project, "fetch", "--locked")  # the crates in CARGO_HOME's cache
    assert fetched.returncode == 0, fetched.stderr
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    built = buildbpf("build", "--release", "--offline", cwd=project, env=env)
    assert built.returncode == 0, built.stderr[-5000:]
    for noise in ("available:", "Locking", "Adding", "Updating"):
        assert noise not in built.stderr, built.stderr[-5000:]
    assert lock.read_text() == written  # cargo kept it as init wrote it
    tested = versions(templates_root() / LOCK_FILE) - {(c, "0.1.0") for c in own_crates(PLACEHOLDER)}
    assert tested <= versions(lock), sorted(tested - versions(lock))


def versions(lock: Path) -> set[tuple[str, str]]:
    return {(p["name"], p["version"]) for p in tomllib.loads(lock.read_text())["package"]}


def test_init_on_a_full_disk_leaves_nothing_behind(tmp_path: Path) -> None:
    """A real full file system (a 16 KiB tmpfs): init fails with exit 8 and one clear line,
    leaves no partial tree, and a retry with space succeeds (issue #11, item 5)."""
    if os.geteuid() != 0:
        skip_or_fail("mounting a small tmpfs needs root")
    small = tmp_path / "small"
    small.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16k", "tmpfs", str(small)], check=True)
    try:
        for args in ([str(small / "probe")], [str(small), "--name", "probe"]):  # new dir; mount point
            done = buildbpf("init", *args)
            assert done.returncode == 8, done.stdout + done.stderr
            assert "No space left on device" in done.stderr
            assert "Traceback" not in done.stderr
            assert list(small.iterdir()) == []
        subprocess.run(["mount", "-o", "remount,size=1m", str(small)], check=True)
        done = buildbpf("init", str(small / "probe"))
        assert done.returncode == 0, done.stderr
        assert (small / "probe" / "probe-ebpf" / "src" / "main.rs").is_file()
    finally:
        subprocess.run(["umount", str(small)], check=True)


def test_a_value_with_quotes_and_backslashes_compiles(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    """An accepted -o value with `"` and `\\` becomes escaped Rust literals that rustc and the
    aya-ebpf attribute macros accept, holding the value unchanged."""
    project = tmp_path / "quoted"
    binary = '/opt/my "app"\\bin'
    done = buildbpf("init", str(project), "-t", "uprobe", "-o", f"binary={binary}")
    assert done.returncode == 0, done.stderr
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    built = buildbpf("build", "--release", "--message-format", "json", cwd=project, env=env)
    assert built.returncode == 0, built.stderr[-5000:]
    loader = shared_target / "release" / "quoted"
    usage = subprocess.run([str(loader), "--help"], capture_output=True, text=True, timeout=60, check=False)
    assert f"[--binary {binary}]" in usage.stdout, usage.stdout


def _actionlint() -> str:
    found = shutil.which("actionlint") or shutil.which("actionlint", path=str(Path.home() / "go" / "bin"))
    if found is None:
        skip_or_fail("actionlint is not installed (./bootstrap installs it with `go install`)")
    assert found is not None
    return found


def test_the_generated_ci_lints_and_runs(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    """What `init` writes for CI works: its workflow passes actionlint, and its noxfile runs
    the ebpf, lint and test sessions green with the buildbpf installed here."""
    project = tmp_path / "withci"
    assert buildbpf("init", str(project), "-t", "xdp").returncode == 0
    linted = subprocess.run([_actionlint(), ".github/workflows/ebpf.yml"], cwd=project,
                            capture_output=True, text=True, check=False)  # fmt: skip
    assert linted.returncode == 0, linted.stdout + linted.stderr
    bindir = str(Path(sys.executable).parent)  # this buildbpf and nox first on PATH
    env = {**os.environ, "PATH": f"{bindir}:{os.environ['PATH']}", "CARGO_TARGET_DIR": str(shared_target)}
    done = subprocess.run([sys.executable, "-m", "nox", "-s", "ebpf", "lint", "test"], cwd=project, env=env,
                          capture_output=True, text=True, timeout=2400, check=False)  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-6000:]
    for session in ("ebpf", "lint", "test"):
        assert f"Session {session} was successful" in done.stderr, done.stderr[-3000:]
    assert "withci-ebpf" in done.stdout + done.stderr  # the eBPF crate was built and verified, then linted
