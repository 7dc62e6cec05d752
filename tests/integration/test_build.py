"""`buildbpf build` end to end on the bundled examples, and on bad input."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from buildbpf.objects import gate
from buildbpf.toolchain import Toolchain
from tests.integration import descendants
from tests.integration.conftest import FIXTURES, buildbpf
from tests.support import skip_or_fail

EXAMPLES = Path(__file__).parents[2] / "examples"


def copy_tree(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination, ignore=shutil.ignore_patterns("target", ".cargo"))
    return destination


def snapshot(root: Path) -> dict[str, tuple[str, int]]:
    """Content hash and mtime of every file below `root` (target dirs excluded)."""
    found = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and "target" not in path.relative_to(root).parts:
            found[str(path.relative_to(root))] = (
                hashlib.sha256(path.read_bytes()).hexdigest(),
                path.stat().st_mtime_ns,
            )
    return found


def build_json(
    workspace: Path, env: dict[str, str], *args: str
) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    done = buildbpf("build", "--release", "--message-format", "json", *args, cwd=workspace, env=env)
    assert done.returncode == 0, done.stderr[-4000:]
    return done, json.loads(done.stdout)


@pytest.mark.parametrize(("example", "program"), [("xdp-counter", "xdp"), ("connect-tracer", None)])
def test_example_builds_and_rebuilds_as_a_no_op(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path, example: str, program: str | None
) -> None:
    workspace = copy_tree(EXAMPLES / example, tmp_path / example)
    git = shutil.which("git") or "git"
    subprocess.run([git, "init", "-q", "."], cwd=workspace, check=True)
    subprocess.run([git, "add", "-A"], cwd=workspace, check=True)  # a checkout with nothing untracked
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    _, result = build_json(workspace, env)
    objects = result["objects"]
    assert [o["bin"] for o in objects] == [example]
    obj = Path(objects[0]["path"])
    assert obj == shared_target / "buildbpf" / "bpfel-unknown-none" / example  # honours CARGO_TARGET_DIR
    checked = gate.inspect(obj, target="bpfel")
    assert checked.ok, checked.problems
    if program:
        assert program in checked.programs
    assert checked.license == "GPL"
    assert result["userspace"] == [example, f"{example}-common"]
    assert (shared_target / "release" / example).is_file()
    config = workspace / f"{example}-ebpf" / ".cargo" / "config.toml"
    assert "# buildbpf" in config.read_text()
    assert not (workspace / ".cargo").exists()  # never bpf settings at the workspace root
    status = subprocess.run([git, "status", "--porcelain", "--untracked-files=all"], cwd=workspace,
                            capture_output=True, text=True, check=True).stdout  # fmt: skip
    assert "??" not in status, status  # the config buildbpf wrote stays out of git status
    exclude = (workspace / ".git" / "info" / "exclude").read_text().splitlines()
    assert f"/{example}-ebpf/.cargo/config.toml" in exclude

    before = snapshot(workspace)
    object_mtime = obj.stat().st_mtime_ns
    again = buildbpf("build", "--release", cwd=workspace, env=env)
    assert again.returncode == 0, again.stderr[-4000:]
    assert "Compiling" not in again.stderr  # every unit fresh
    assert snapshot(workspace) == before  # no file rewritten
    assert obj.stat().st_mtime_ns == object_mtime


def run_loader(binary: Path) -> str:
    if os.geteuid() != 0:
        skip_or_fail("loading programs needs root")
    done = subprocess.run(
        [str(binary), "--seconds", "1"], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def test_loaders_attach_in_this_kernel(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    for example in ("xdp-counter", "connect-tracer"):
        workspace = copy_tree(EXAMPLES / example, tmp_path / example)
        build_json(workspace, env)
    packets = run_loader(shared_target / "release" / "xdp-counter")
    assert int(packets.split("packets:")[1].split()[0]) > 0, packets
    connects = run_loader(shared_target / "release" / "connect-tracer")
    assert int(connects.split("connects:")[1].split()[0]) > 0, connects


# --- bad input: a clear message, a distinct exit code, nothing written ----------------------


@pytest.fixture
def probe_workspace(tmp_path: Path) -> Path:
    workspace = copy_tree(FIXTURES / "minimal-ebpf", tmp_path / "probe")
    (workspace / "buildbpf.toml").write_text('[crates.minimal-ebpf]\nrole = "ebpf"\n')
    return workspace


@pytest.mark.parametrize(
    ("config", "code", "words"),
    [
        ("[crates.minimal-ebpf\nrole = 'ebpf'\n", 2, "buildbpf.toml: not valid TOML"),
        (
            "[crates.minimal-ebpf]\nrole = 'ebpf'\nbtff = true\n",
            2,
            "buildbpf.toml:3: crates.minimal-ebpf.btff",
        ),
        (
            "[crates.minimal-ebpf]\nrole = 'ebpf'\nbtf = 'yes'\n",
            2,
            "buildbpf.toml:3: crates.minimal-ebpf.btf",
        ),
        ("[crates.minimal-epbf]\nrole = 'ebpf'\n", 2, "did you mean `minimal-ebpf`"),
        ("", 2, "no eBPF crate"),
    ],
)
def test_bad_config(toolchain: Toolchain, probe_workspace: Path, config: str, code: int, words: str) -> None:
    (probe_workspace / "buildbpf.toml").write_text(config)
    before = snapshot(probe_workspace)
    done = buildbpf("build", "--release", cwd=probe_workspace)
    assert done.returncode == code, done.stderr
    assert words in done.stderr
    assert "fix:" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(probe_workspace) == before
    assert not (probe_workspace / ".cargo").exists()


def test_unknown_package(toolchain: Toolchain, probe_workspace: Path) -> None:
    done = buildbpf("build", "-p", "minimal-ebfp", cwd=probe_workspace)
    assert done.returncode == 2
    assert "did you mean `minimal-ebpf`" in done.stderr
    assert not (probe_workspace / ".cargo").exists()


def test_broken_toolchain(toolchain: Toolchain, probe_workspace: Path, tmp_path: Path) -> None:
    env = dict(os.environ, BUILDBPF_BPF_LINKER=str(tmp_path / "gone" / "bpf-linker"))
    before = snapshot(probe_workspace)
    done = buildbpf("build", cwd=probe_workspace, env=env)
    assert done.returncode == 3, done.stderr
    assert "BUILDBPF_BPF_LINKER" in done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(probe_workspace) == before


def test_not_a_workspace(toolchain: Toolchain, tmp_path: Path) -> None:
    done = buildbpf("build", cwd=tmp_path)
    assert done.returncode == 2
    assert "cargo metadata failed" in done.stderr
    assert "Traceback" not in done.stderr


def test_user_config_survives_a_real_build(toolchain: Toolchain, probe_workspace: Path) -> None:
    user = '# mine\n[build]\njobs = 2 # keep\n\n[alias]\nxb = "build"\n'
    config = probe_workspace / ".cargo" / "config.toml"
    config.parent.mkdir()
    config.write_text(user)
    done = buildbpf("build", "--release", cwd=probe_workspace)
    assert done.returncode == 0, done.stderr[-3000:]
    text = config.read_text()
    assert text.startswith(user.rstrip("\n").split("\n[alias]")[0])
    assert 'xb = "build"' in text
    assert 'target = "bpfel-unknown-none" # buildbpf' in text
    dry = buildbpf("build", "--release", "--dry-run", cwd=probe_workspace)
    assert dry.returncode == 0
    assert f"unchanged: {config}" in dry.stdout
    assert "would run: cd " in dry.stdout


def aya_template_workspace(destination: Path) -> Path:
    """The XDP example in today's aya-template layout: a userspace build.rs that builds the
    eBPF crate with aya-build, and an object embedded from OUT_DIR."""
    workspace = copy_tree(EXAMPLES / "xdp-counter", destination)
    user = workspace / "xdp-counter"
    shutil.copyfile(FIXTURES / "aya-build" / "build.rs", user / "build.rs")
    manifest = (user / "Cargo.toml").read_text()
    build_deps = (
        "[build-dependencies]\nanyhow = { workspace = true }\n"
        'aya-build = "=0.2.0"\ncargo_metadata = "=0.23.1"\n\n'
    )
    (user / "Cargo.toml").write_text(manifest.replace("[[bin]]", build_deps + "[[bin]]"))
    main = (user / "src" / "main.rs").read_text()
    embedded = main.replace('env!("BUILDBPF_OBJECTS")', 'env!("OUT_DIR")')
    assert embedded != main
    (user / "src" / "main.rs").write_text(embedded)
    return workspace


def test_aya_template_layout_builds_unchanged(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    workspace = aya_template_workspace(tmp_path / "aya-build-xdp")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    before = {p: p.read_bytes() for p in workspace.rglob("*.rs")}
    _, result = build_json(workspace, env)
    embedded = [o for o in result["objects"] if o["crate"] == "xdp-counter"]
    assert len(embedded) == 1, result["objects"]  # the object aya-build put into OUT_DIR ...
    assert "/out/xdp-counter" in embedded[0]["path"]
    assert gate.inspect(Path(embedded[0]["path"]), target="bpfel").ok  # ... passed the gate
    assert {p: p.read_bytes() for p in workspace.rglob("*.rs")} == before  # no edits needed
    packets = run_loader(shared_target / "release" / "xdp-counter")
    assert int(packets.split("packets:")[1].split()[0]) > 0, packets


def two_crate_workspace(root: Path) -> Path:
    """Two registry-free eBPF crates with the same settings in one workspace."""
    root.mkdir()
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["first-ebpf", "second-ebpf"]\nresolver = "2"\n')
    (root / "buildbpf.toml").write_text(
        '[crates.first-ebpf]\nrole = "ebpf"\n\n[crates.second-ebpf]\nrole = "ebpf"\n'
    )
    for name in ("first-ebpf", "second-ebpf"):
        crate = copy_tree(FIXTURES / "minimal-ebpf", root / name)
        manifest = (crate / "Cargo.toml").read_text().replace("minimal-ebpf", name)
        (crate / "Cargo.toml").write_text(manifest.split("# A standalone")[0] + f'[[bin]]\nname = "{name}"\n'
                                          'path = "src/main.rs"\n')  # fmt: skip
    return root


def test_crates_with_the_same_flags_are_built_by_one_cargo_call(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    root = two_crate_workspace(tmp_path / "pair")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    done, result = build_json(root, env, "-v")  # -v: the full cargo command lines
    calls = [line for line in done.stderr.splitlines() if line.startswith("+ ") and "build-std" in line]
    assert len(calls) == 1, calls
    assert f"+ cd {root} && " in calls[0]
    assert "-p first-ebpf -p second-ebpf" in calls[0]
    assert [(o["crate"], o["bin"]) for o in result["objects"]] == [
        ("first-ebpf", "first-ebpf"), ("second-ebpf", "second-ebpf"),
    ]  # fmt: skip
    for obj in result["objects"]:
        assert gate.inspect(Path(obj["path"])).ok

    # a setting of the user's in one crate's cargo config: that crate is built alone, from its directory
    config = root / "second-ebpf" / ".cargo" / "config.toml"
    config.write_text(config.read_text() + '\n[env]\nSECOND = "1"\n')
    done, result = build_json(root, env, "-v")
    calls = [line for line in done.stderr.splitlines() if line.startswith("+ ") and "build-std" in line]
    assert [c.split(" && ")[0] for c in calls] == [
        f"+ cd {root / 'first-ebpf'}",
        f"+ cd {root / 'second-ebpf'}",
    ]
    assert len(result["objects"]) == 2


def test_a_linker_that_writes_nothing_is_not_a_verified_object(
    toolchain: Toolchain, probe_workspace: Path, tmp_path: Path
) -> None:
    # bpf-linker exiting 0 without its output leaves the last object in place: after an
    # edit, that stale object must not be published as verified. One linker path for both
    # builds (cargo rebuilds everything when it changes); SILENT_LINKER makes it write nothing.
    wrapper = tmp_path / "bin" / "bpf-linker"
    wrapper.parent.mkdir()
    wrapper.write_text(
        "#!/bin/sh\n"
        'for a in "$@"; do case "$a" in --version|--llvm-args=--version) '
        f'exec {toolchain.linker.path} "$@";; esac; done\n'
        f'[ -n "$SILENT_LINKER" ] && exit 0\nexec {toolchain.linker.path} "$@"\n'
    )
    wrapper.chmod(0o755)
    env = dict(os.environ, BUILDBPF_BPF_LINKER=str(wrapper))
    assert buildbpf("build", "--release", cwd=probe_workspace, env=env).returncode == 0
    published = probe_workspace / "target" / "buildbpf" / "bpfel-unknown-none" / "minimal-ebpf"
    assert published.is_file()
    source = probe_workspace / "src" / "main.rs"
    source.write_text(source.read_text().replace("2 // XDP_PASS", "1 // XDP_DROP"))
    assert "1 // XDP_DROP" in source.read_text()
    done = buildbpf("build", "--release", cwd=probe_workspace, env={**env, "SILENT_LINKER": "1"})
    assert done.returncode == 5, done.stderr[-3000:]
    assert "exited 0 without writing its output" in done.stderr
    assert not published.exists()  # the stale object is not left for userspace


# how long a child may outlive a killed buildbpf (measured from the signal: 0.01 s after SIGKILL,
# 0.3 s after SIGTERM or SIGINT; rustc ran on for 4-11 s while only cargo died with buildbpf)
GONE_WITHIN = 3.0


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM, signal.SIGINT], ids=lambda s: s.name)
def test_nothing_buildbpf_started_outlives_it(
    toolchain: Toolchain, probe_workspace: Path, sig: signal.Signals
) -> None:
    # a killed buildbpf must leave neither cargo (holding the build directory lock) nor the
    # rustc it started (compiling core for a while yet)
    mark, env = descendants.new_mark()
    proc = subprocess.Popen([sys.executable, "-m", "buildbpf", "build", "--release"], cwd=probe_workspace,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    try:
        descendants.wait_for(mark, "rustc", 120, but=proc.pid)
        time.sleep(1)  # rustc is compiling now
        proc.send_signal(sig)
        _, err = proc.communicate(timeout=60)
    finally:
        proc.kill()
        proc.wait()
    seconds = descendants.gone_within(mark, GONE_WITHIN)
    print(f"{sig.name}: the last child was gone {seconds:.2f} s after buildbpf")
    if sig != signal.SIGKILL:  # Ctrl-C's way out for SIGTERM too: one line, its own exit code
        code, why = {signal.SIGINT: (130, "interrupted"), signal.SIGTERM: (143, "SIGTERM")}[sig]
        assert proc.returncode == code, err[-2000:]
        last = err.decode().splitlines()[-1]
        assert last.startswith(f"buildbpf: interrupted: {why} while running ") and last.endswith("cargo")
    # nothing half-written was published
    published = probe_workspace / "target" / "buildbpf" / "bpfel-unknown-none" / "minimal-ebpf"
    assert not published.exists()


def test_ctrl_z_stops_the_build_with_buildbpf(toolchain: Toolchain, probe_workspace: Path) -> None:
    # the terminal stops buildbpf's group, which cargo has left: buildbpf stops cargo's, and
    # continues it on `fg`
    mark, env = descendants.new_mark()
    proc = subprocess.Popen([sys.executable, "-m", "buildbpf", "build", "--release"], cwd=probe_workspace,
                            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip

    def build_states() -> set[str]:
        found = descendants.states(mark, but=proc.pid)
        return {state for _, program, state in found if "cargo" in program or "rustc" in program}

    def soon(check: Callable[[set[str]], bool]) -> bool:
        deadline = time.monotonic() + 5
        while not check(build_states()) and time.monotonic() < deadline:
            time.sleep(0.05)
        return check(build_states())

    try:
        descendants.wait_for(mark, "rustc", 120, but=proc.pid)
        proc.send_signal(signal.SIGTSTP)
        assert soon(lambda states: states == {"T"}), f"cargo and rustc kept running: {build_states()}"
        proc.send_signal(signal.SIGCONT)
        assert soon(lambda states: "T" not in states), "cargo or rustc stayed stopped"
        proc.send_signal(signal.SIGINT)
        assert proc.wait(timeout=60) == 130
    finally:
        proc.kill()
        proc.wait()
    descendants.gone_within(mark, GONE_WITHIN)


def _fake_toolchain(rustup_home: Path, name: str, real: Toolchain) -> Path:
    """A rustup toolchain directory whose rustc and cargo are the real ones behind wrappers."""
    home = rustup_home / "toolchains" / name
    (home / "bin").mkdir(parents=True)
    sysroot = subprocess.run([str(real.rust.rustc), "--print", "sysroot"], capture_output=True, text=True,
                             check=True).stdout.strip()  # fmt: skip
    for tool, path in (("rustc", real.rust.rustc), ("cargo", real.rust.cargo)):
        wrapper = home / "bin" / tool
        wrapper.write_text(f'#!/bin/sh\nexec {path} "$@"\n')
        wrapper.chmod(0o755)
    (home / "lib" / "rustlib").mkdir(parents=True)
    (home / "lib" / "rustlib" / "src").symlink_to(Path(sysroot) / "lib" / "rustlib" / "src")
    return home


def test_a_per_crate_toolchain_is_the_one_that_builds_it(
    toolchain: Toolchain, probe_workspace: Path, tmp_path: Path
) -> None:
    rustup = tmp_path / "rustup"
    _fake_toolchain(rustup, "main-1.0", toolchain)
    crate_home = _fake_toolchain(rustup, "crate-1.0", toolchain)
    (probe_workspace / "buildbpf.toml").write_text(
        'toolchain = "main-1.0"\n\n[crates.minimal-ebpf]\nrole = "ebpf"\ntoolchain = "crate-1.0"\n'
    )
    env = {k: v for k, v in os.environ.items() if k not in ("BUILDBPF_TOOLCHAIN", "RUSTUP_TOOLCHAIN")}
    env["RUSTUP_HOME"] = str(rustup)
    done = buildbpf("build", "--release", "--print-plan", cwd=probe_workspace, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    [step] = json.loads(done.stdout)["ebpf"]
    assert step["cargo"]["argv"][0] == str(crate_home / "bin" / "cargo")
    assert step["cargo"]["env_set"]["RUSTC"] == str(crate_home / "bin" / "rustc")
    shown = buildbpf("config", "--json", cwd=probe_workspace, env=env)
    assert "crate-1.0" in shown.stdout


def test_write_config_false_writes_no_crate_config(toolchain: Toolchain, tmp_path: Path) -> None:
    workspace = copy_tree(EXAMPLES / "xdp-counter", tmp_path / "xdp-counter")
    for setting in ({"BUILDBPF_WRITE_CONFIG": "0"}, {}):
        if not setting:
            (workspace / "buildbpf.toml").write_text("write_config = false\n")
        done = buildbpf("build", "--release", "--print-plan", cwd=workspace, env={**os.environ, **setting})
        assert done.returncode == 0, done.stderr[-3000:]
        assert json.loads(done.stdout)["configs"] == []
    (workspace / "buildbpf.toml").write_text("write_config = true\n")
    done = buildbpf("build", "--release", "--print-plan", cwd=workspace)
    assert [c["crate"] for c in json.loads(done.stdout)["configs"]] == ["xdp-counter-ebpf"]


def _nightly_without_rust_src(rustup_home: Path, real: Toolchain) -> Path:
    """A rustup `nightly` as a workspace pins it without rust-src: it accepts `#![feature]`
    (RUSTC_BOOTSTRAP, as a nightly does) but cannot build eBPF (no library sources)."""
    home = rustup_home / "toolchains" / f"nightly-{real.rust.rustc_info.host}"
    (home / "bin").mkdir(parents=True)
    # `-vV` says nightly, as a nightly does: cargo keys its builds (and build scripts' probes,
    # anyhow's and thiserror's nightly-feature checks) by that output, so this toolchain's
    # builds never mix with the real rustc's in a shared target dir
    rustc = (f'if [ "$1" = -vV ]; then {real.rust.rustc} -vV | sed "s/^release: .*/&-nightly/"; exit; fi\n'
             f'RUSTC_BOOTSTRAP=1 exec {real.rust.rustc} "$@"')  # fmt: skip
    wrappers = {"rustc": rustc, "cargo": f'exec {real.rust.cargo} "$@"'}
    for tool, text in wrappers.items():
        (home / "bin" / tool).write_text(f"#!/bin/sh\n{text}\n")
        (home / "bin" / tool).chmod(0o755)
    return home


def test_userspace_builds_with_the_workspaces_pinned_toolchain(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # issue #21: rust-toolchain.toml pins a nightly without rust-src and the -common crate
    # uses a nightly feature; eBPF needs another toolchain, userspace builds as cargo would
    project = tmp_path / "pinned"
    assert buildbpf("init", str(project), "-t", "xdp").returncode == 0
    (project / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "nightly"\n')
    common = project / "pinned-common" / "src" / "lib.rs"
    common.write_text("#![feature(trivial_bounds)]\n" + common.read_text())
    nightly = _nightly_without_rust_src(tmp_path / "rustup", toolchain)
    env = {k: v for k, v in os.environ.items() if k not in ("BUILDBPF_TOOLCHAIN", "RUSTUP_TOOLCHAIN")}
    env.update(RUSTUP_HOME=str(tmp_path / "rustup"), CARGO_TARGET_DIR=str(shared_target))

    done = buildbpf("build", "--release", "--print-plan", cwd=project, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    planned = json.loads(done.stdout)
    [ebpf] = planned["ebpf"]
    assert ebpf["cargo"]["env_set"]["RUSTC"] != str(nightly / "bin" / "rustc")  # no rust-src there
    assert planned["userspace"]["cargo"]["argv"][0] == str(nightly / "bin" / "cargo")
    assert planned["userspace"]["cargo"]["env_set"]["RUSTC"] == str(nightly / "bin" / "rustc")

    built, result = build_json(project, env)
    pin = project / "rust-toolchain.toml"
    [sides] = [line for line in built.stderr.splitlines() if "userspace with" in line]
    assert f"from rustup toolchain {nightly.name} (pinned by {pin}" in sides, sides
    assert sides.startswith("buildbpf: eBPF builds with rustc "), sides
    assert (shared_target / "release" / "pinned").is_file()
    assert result["userspace"] == ["pinned", "pinned-common"]
