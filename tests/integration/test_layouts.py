"""Real-world layouts build unchanged (tests/integration/fixtures/layouts/README.md says
which public projects each fixture is modelled on).

Each workspace is committed to a throw-away git repository first, as projects are: a build
must leave `git status` clean (nothing of the user's rewritten, nothing machine-specific
written) and embed a verified object where the project's own userspace looks for it.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest

from buildbpf.objects import elf, gate
from buildbpf.objects.facts import read_facts
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf, cargo_build_ebpf
from tests.support import skip_or_fail

LAYOUTS = FIXTURES / "layouts"
GIT_ENV = {
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@localhost",
}  # fmt: skip


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env={**os.environ, **GIT_ENV}, capture_output=True,
                          text=True, check=True)  # fmt: skip
    return done.stdout


def committed_copy(name: str, destination: Path) -> Path:
    shutil.copytree(LAYOUTS / name, destination, ignore=shutil.ignore_patterns("target"))
    (destination / ".gitignore").write_text("/target\n")
    git(destination, "init", "-q", "-b", "main")
    git(destination, "add", "-A")
    git(destination, "commit", "-q", "-m", "as published")
    return destination


def build(workspace: Path, env: dict[str, str], *args: str) -> tuple[str, dict[str, Any]]:
    done = buildbpf("build", *args, "--message-format", "json", cwd=workspace, env=env)
    assert done.returncode == 0, done.stderr[-5000:]
    return done.stderr, json.loads(done.stdout)


def run_loader(binary: Path) -> int:
    """Run a fixture's loader for 2 s while sending UDP datagrams over `lo`; its packet count."""
    if os.geteuid() != 0:
        skip_or_fail("loading programs needs root")
    loader = subprocess.Popen([str(binary), "--seconds", "2"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True)  # fmt: skip
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sender:
        deadline = time.monotonic() + 1.8
        while time.monotonic() < deadline and loader.poll() is None:
            sender.sendto(b"buildbpf", ("127.0.0.1", 9))
            time.sleep(0.05)
    out, err = loader.communicate(timeout=120)
    assert loader.returncode == 0, out + err
    return int(out.split("packets:")[1].split()[0])


def test_current_aya_template_builds_unchanged(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # eBPF build.rs with which("bpf-linker").unwrap(), userspace build.rs with aya-build,
    # the eBPF crate's own committed .cargo/config.toml, no license section
    workspace = committed_copy("current-template", tmp_path / "tmplxdp")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    stderr, result = build(workspace, env, "--release", "-v")  # -v: full cargo lines
    ours = [o for o in result["objects"] if o["crate"] == "tmplxdp-ebpf"]
    assert [(o["bin"], o["target"]) for o in ours] == [("tmplxdp", "bpfel")], result["objects"]
    # aya-build 0.1.2 links without --btf; Aya loads such objects, so BTF is not required
    assert gate.gate(Path(ours[0]["path"]), crate="tmplxdp-ebpf", btf=False).programs
    embedded = [o for o in result["objects"] if o["crate"] == "tmplxdp"]  # what aya-build put in OUT_DIR
    assert embedded and "/out/tmplxdp" in embedded[0]["path"], result["objects"]
    assert ours[0]["sha256"] == embedded[0]["sha256"]  # the embedded object is the one published
    # compiled once: by aya-build's nested cargo, steered to this toolchain; buildbpf gates it
    assert "-Z build-std" not in "".join(line for line in stderr.splitlines() if line.startswith("+ "))
    assert "did not build" not in stderr  # the binary embeds exactly the gated object
    assert git(workspace, "status", "--porcelain") == ""  # nothing of the project's touched
    assert run_loader(shared_target / "release" / "tmplxdp") > 0


def test_xtask_era_layout_builds_unchanged(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    # the eBPF crate is its own workspace, outside the root one, with its own config
    # (target-dir = "../target"), a rust-toolchain.toml pinning nightly, and userspace
    # embedding ../../target/bpfel-unknown-none/{debug,release}/oldxdp
    workspace = committed_copy("xtask-era", tmp_path / "oldxdp")
    # the habit of pinning at the root too: a nightly without rust-src must not stop the build
    (workspace / "rust-toolchain.toml").write_text(
        '[toolchain]\nchannel = "nightly"\ncomponents = ["rust-src"]\n'
    )
    git(workspace, "add", "rust-toolchain.toml")
    git(workspace, "commit", "-q", "-m", "pin")
    (workspace / "target").symlink_to(shared_target)  # the project's own target dir, compiled once per run
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    stderr, result = build(workspace, env, "--release")
    assert "rust-toolchain.toml pins nightly" in stderr
    [published] = [o for o in result["objects"] if o["crate"] == "oldxdp-ebpf"]
    expected = workspace / "target" / "bpfel-unknown-none" / "release" / "oldxdp"
    assert expected.read_bytes() == Path(published["path"]).read_bytes()  # what userspace embeds is verified
    assert result["userspace"] == ["xtask", "oldxdp", "oldxdp-common"]
    assert "did not build" not in stderr  # the binary embeds exactly the verified object
    assert git(workspace, "status", "--porcelain") == ""
    assert run_loader(workspace / "target" / "release" / "oldxdp") > 0

    # a debug userspace build embeds .../debug/oldxdp: the verified (release-built) object is left there
    _, result = build(workspace, env)
    debug_object = workspace / "target" / "bpfel-unknown-none" / "debug" / "oldxdp"
    assert debug_object.read_bytes() == expected.read_bytes()
    assert (workspace / "target" / "debug" / "oldxdp").is_file()


def test_userspace_embedding_an_object_buildbpf_did_not_build(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # the habit of vendoring a prebuilt object (or of a build.rs compiling its own copy):
    # the binary holds an object the build never verified; say so, refuse a bad one
    workspace = tmp_path / "xdp-counter"
    examples = Path(__file__).parents[2] / "examples"
    shutil.copytree(examples / "xdp-counter", workspace, ignore=shutil.ignore_patterns("target", ".cargo"))
    crate = tmp_path / "minimal-ebpf"
    shutil.copytree(FIXTURES / "minimal-ebpf", crate)
    _, executables = cargo_build_ebpf(toolchain, crate, target_dir=shared_target)
    vendored = executables[0].read_bytes()
    (workspace / "xdp-counter" / "vendored.o").write_bytes(vendored)
    main = workspace / "xdp-counter" / "src" / "main.rs"
    source = main.read_text().replace(
        "fn main() -> ExitCode {",
        'static VENDORED: &[u8] = aya::include_bytes_aligned!("../vendored.o");\n\n'
        "fn main() -> ExitCode {\n    std::hint::black_box(VENDORED);",
    )
    main.write_text(source)
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    stderr, _ = build(workspace, env, "--release")
    binary = shared_target / "release" / "xdp-counter"
    assert f"{binary} embeds an eBPF object that buildbpf did not build" in stderr
    assert f"(sha256 {hashlib.sha256(vendored).hexdigest()[:16]}, programs: xdp)" in stderr

    # a vendored object that is not loadable eBPF (its license is not NUL-terminated)
    assert vendored.count(b"GPL\0") == 1
    (workspace / "xdp-counter" / "vendored.o").write_bytes(vendored.replace(b"GPL\0", b"GPLX"))
    done = buildbpf("build", "--release", cwd=workspace, env=env)
    assert done.returncode == 5, done.stderr[-3000:]
    assert "did not build" in done.stderr
    assert "license" in done.stderr
    assert not binary.exists()  # no binary is left that embeds a rejected object


def test_ebpf_crate_as_the_root_package(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    # the eBPF crate is the workspace's root package, userspace a member: a config written at
    # the root would make the userspace build target bpfel with build-std
    workspace = tmp_path / "xdp-counter"
    examples = Path(__file__).parents[2] / "examples"
    shutil.copytree(examples / "xdp-counter", workspace, ignore=shutil.ignore_patterns("target", ".cargo"))
    ebpf = workspace / "xdp-counter-ebpf"
    shutil.move(ebpf / "src", workspace / "src")
    package = (ebpf / "Cargo.toml").read_text()
    shutil.rmtree(ebpf)
    root = (workspace / "Cargo.toml").read_text()
    root = root.replace('"xdp-counter-common", "xdp-counter-ebpf"]', '"xdp-counter-common"]')
    (workspace / "Cargo.toml").write_text(package + "\n" + root)
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    _, result = build(workspace, env, "--release")
    assert [o["crate"] for o in result["objects"]] == ["xdp-counter-ebpf"]
    assert result["userspace"] == ["xdp-counter", "xdp-counter-common"]
    assert not (workspace / ".cargo").exists()
    assert (shared_target / "release" / "xdp-counter").is_file()


CARGO_IN_CARGO = """\
// A hand-rolled cargo-in-cargo build script, as shadow3aaa/frame-analyzer-ebpf has one: the
// userspace build compiles the eBPF crate (outside the workspace) into OUT_DIR itself.
use std::{env, path::Path, process::Command};

fn main() {
    println!("cargo:rerun-if-changed=../oldxdp-ebpf");
    let project = env::current_dir().unwrap().parent().unwrap().join("oldxdp-ebpf");
    let target_dir = Path::new(&env::var("OUT_DIR").unwrap()).join("ebpf_target");
    let mut args = vec!["build", "--target", "bpfel-unknown-none", "-Z", "build-std=core"];
    args.extend(["--target-dir", target_dir.to_str().unwrap()]);
    #[cfg(not(debug_assertions))]
    args.push("--release");
    let status = Command::new("cargo").args(args).env_remove("RUSTUP_TOOLCHAIN")
        .current_dir(&project).status().unwrap();
    assert!(status.success(), "building the eBPF crate failed");
}
"""


def test_cargo_in_cargo_build_script(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    # the userspace build.rs runs `cargo build --target bpfel-unknown-none -Z build-std=core`
    # itself: its cargo gets buildbpf's stand-ins (a toolchain that can -Z build-std, bpf-linker
    # on PATH), and the object it embeds, which buildbpf did not build, is named and gated
    workspace = committed_copy("xtask-era", tmp_path / "oldxdp")
    user = workspace / "oldxdp"
    (user / "build.rs").write_text(CARGO_IN_CARGO)
    main = user / "src" / "main.rs"
    source = main.read_text()
    for profile in ("debug", "release"):
        source = source.replace(
            f'"../../target/bpfel-unknown-none/{profile}/oldxdp"',
            f'concat!(env!("OUT_DIR"), "/ebpf_target/bpfel-unknown-none/{profile}/oldxdp")',
        )
    assert "ebpf_target" in source
    main.write_text(source)
    (workspace / "target").symlink_to(shared_target)
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    stderr, result = build(workspace, env, "--release")
    assert "embeds an eBPF object that buildbpf did not build" in stderr
    assert [o["crate"] for o in result["objects"]] == ["oldxdp-ebpf"]
    assert run_loader(workspace / "target" / "release" / "oldxdp") > 0


def test_git_dependency(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    # aya-template and the Aya book depend on aya by git; Debian's cargo cannot fetch git
    if shutil.which("git") is None:
        skip_or_fail("git is not installed")
    lib = tmp_path / "ebpf-helpers"
    (lib / "src").mkdir(parents=True)
    (lib / "Cargo.toml").write_text('[package]\nname = "ebpf-helpers"\nversion = "0.1.0"\nedition = "2021"\n')
    (lib / "src" / "lib.rs").write_text("#![no_std]\npub const XDP_PASS: u32 = 2;\n")
    git(lib, "init", "-q", "-b", "main")
    git(lib, "add", "-A")
    git(lib, "commit", "-q", "-m", "helpers")
    bare = tmp_path / "ebpf-helpers.git"
    git(tmp_path, "clone", "-q", "--bare", str(lib), str(bare))

    root = tmp_path / "gitdep"
    crate = root / "gitdep-ebpf"
    shutil.copytree(FIXTURES / "minimal-ebpf", crate, ignore=shutil.ignore_patterns("target"))
    manifest = (crate / "Cargo.toml").read_text().replace("minimal-ebpf", "gitdep-ebpf")
    manifest = manifest.split("# A standalone")[0]
    manifest += f'[dependencies]\nebpf-helpers = {{ git = "file://{bare}" }}\n\n'
    manifest += '[[bin]]\nname = "gitdep-ebpf"\npath = "src/main.rs"\n'
    (crate / "Cargo.toml").write_text(manifest)
    main = (crate / "src" / "main.rs").read_text()
    assert "    2\n" in main or "2 //" in main, main
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["gitdep-ebpf"]\nresolver = "2"\n')
    (root / "buildbpf.toml").write_text('[crates.gitdep-ebpf]\nrole = "ebpf"\n')
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), CARGO_HOME=str(tmp_path / "cargo-home"))
    # --offline reaches the fetch another cargo makes for Debian's (which cannot fetch git): with
    # nothing in CARGO_HOME yet, it fails, and fetches nothing
    offline = buildbpf("build", "--release", "--offline", cwd=root, env=env)
    assert offline.returncode == 4, offline.stderr[-3000:]
    assert "offline" in offline.stderr
    assert not (tmp_path / "cargo-home" / "git" / "checkouts").exists()
    stderr, result = build(root, env, "--release")
    assert [o["bin"] for o in result["objects"]] == ["gitdep-ebpf"], stderr[-3000:]
    assert "ebpf-helpers" in (root / "Cargo.lock").read_text()
    assert list((tmp_path / "cargo-home" / "git" / "checkouts").iterdir())


def test_aya_build_behind_a_feature(toolchain: Toolchain, tmp_path: Path, shared_target: Path) -> None:
    # etherip-xdp's habit (README item 15): aya-build is optional, behind `build-ebpf`; without
    # it the binary embeds an object committed under assets/. Off, aya-build never runs, so
    # buildbpf must build and verify the eBPF crate itself; on, aya-build builds it as usual.
    workspace = committed_copy("current-template", tmp_path / "gated")
    user = workspace / "tmplxdp"
    manifest = (user / "Cargo.toml").read_text()
    optional = "aya-build = { workspace = true, optional = true }"
    gated = manifest.replace("aya-build = { workspace = true }", optional)
    assert gated != manifest
    (user / "Cargo.toml").write_text(gated + '\n[features]\nbuild-ebpf = ["dep:aya-build"]\n')
    script = (user / "build.rs").read_text()
    script = script.replace("use ", '#[cfg(feature = "build-ebpf")]\nuse ').replace(
        "fn main() -> anyhow::Result<()> {", '#[cfg(not(feature = "build-ebpf"))]\nfn main() {}\n\n'
        '#[cfg(feature = "build-ebpf")]\nfn main() -> anyhow::Result<()> {'
    )  # fmt: skip
    (user / "build.rs").write_text(script)
    main = (user / "src" / "main.rs").read_text()
    embed = 'aya::include_bytes_aligned!(concat!(\n        env!("OUT_DIR"),\n        "/tmplxdp"\n    ))'
    assert embed in main
    (user / "src" / "main.rs").write_text(main.replace(embed, (
        '{\n        #[cfg(feature = "build-ebpf")]\n        let bytes = ' + embed + ';\n'
        '        #[cfg(not(feature = "build-ebpf"))]\n        let bytes = aya::include_bytes_aligned!'
        '(concat!(env!("CARGO_MANIFEST_DIR"), "/assets/tmplxdp"));\n        bytes\n    }'
    )))  # fmt: skip
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))

    # on: aya-build builds the eBPF crate (compiled once); the maintainers commit its object
    stderr, result = build(workspace, env, "--release", "--features", "build-ebpf", "-v")
    assert "-Z build-std" not in "".join(line for line in stderr.splitlines() if line.startswith("+ "))
    [embedded] = [o for o in result["objects"] if o["crate"] == "tmplxdp"]
    (user / "assets").mkdir()
    shutil.copyfile(embedded["path"], user / "assets" / "tmplxdp")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "feature-gated aya-build, committed object")

    # off (the default): buildbpf builds and verifies the eBPF crate itself
    stderr, result = build(workspace, env, "--release", "-v")
    ours = [o for o in result["objects"] if o["crate"] == "tmplxdp-ebpf"]
    assert [(o["bin"], o["target"]) for o in ours] == [("tmplxdp", "bpfel")], stderr[-3000:]
    assert "/buildbpf/bpfel-unknown-none/tmplxdp" in ours[0]["path"]
    assert any(line.startswith("+ ") and "-p tmplxdp-ebpf" in line for line in stderr.splitlines())
    assert git(workspace, "status", "--porcelain") == ""


def test_several_programs_as_bins_of_one_crate(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # Banyc/xdp_hello, aya's integration-ebpf (README item 6): src/bin/*.rs beside lib.rs, one
    # object per bin, no src/main.rs
    root = tmp_path / "multi"
    bins = root / "multi-ebpf" / "src" / "bin"
    bins.mkdir(parents=True)
    program = (FIXTURES / "minimal-ebpf" / "src" / "main.rs").read_text()
    assert "pub fn xdp_pass(" in program
    for name in ("firewall", "gauge"):
        (bins / f"{name}.rs").write_text(program.replace("pub fn xdp_pass(", f"pub fn {name}("))
    (root / "multi-ebpf" / "src" / "lib.rs").write_text("#![no_std]\npub const XDP_PASS: u32 = 2;\n")
    (root / "multi-ebpf" / "Cargo.toml").write_text(
        '[package]\nname = "multi-ebpf"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[profile.release]\npanic = "abort"\n\n[profile.dev]\npanic = "abort"\n'
    )
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["multi-ebpf"]\nresolver = "2"\n')
    (root / "buildbpf.toml").write_text('[crates.multi-ebpf]\nrole = "ebpf"\n')
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    _, result = build(root, env, "--release")
    found = {o["bin"]: o for o in result["objects"]}
    assert sorted(found) == ["firewall", "gauge"], result["objects"]
    for obj in found.values():
        assert gate.gate(Path(obj["path"]), crate="multi-ebpf").programs == ["xdp"]
    assert found["firewall"]["sha256"] != found["gauge"]["sha256"]
    done = buildbpf("check", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "program firewall: xdp" in done.stdout and "program gauge: xdp" in done.stdout


OLD_ERA = """#![no_std]
#![no_main]

// what aya-bpf's `#[{kind}]` on `fn {name}` expands to, as in the old template
#[no_mangle]
#[link_section = "{kind}/{name}"]
pub fn {name}(_ctx: *mut core::ffi::c_void) -> u32 {{
    {value}
}}

#[no_mangle]
#[link_section = "license"]
pub static LICENSE: [u8; 4] = *b"GPL\\0";

#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {{
    loop {{}}
}}
"""


def test_aya_bpf_era_sections_name_programs(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # aya-bpf's macros (before 0.12; the old template, snitchrs, fs-tracer) name each section
    # after its program: `#[kprobe] fn fs_probe` is `kprobe/fs_probe` (userspace names the
    # function at attach time), `#[xdp(name = "oldera")]` is `xdp/oldera`, which Aya before 0.12
    # loads and today's aya-obj refuses. aya-bpf came from git only: a local stand-in carries
    # its name, and each program is what its macro expands to.
    root = tmp_path / "oldera"
    stand_in = root / "aya-bpf"
    (stand_in / "src").mkdir(parents=True)
    (stand_in / "Cargo.toml").write_text('[package]\nname = "aya-bpf"\nversion = "0.1.0"\nedition = "2021"\n')
    (stand_in / "src" / "lib.rs").write_text("#![no_std]\n")
    bins = root / "oldera-ebpf" / "src" / "bin"
    bins.mkdir(parents=True)
    (bins / "oldprobe.rs").write_text(OLD_ERA.format(kind="kprobe", name="fs_probe", value=0))
    (bins / "oldxdp.rs").write_text(OLD_ERA.format(kind="xdp", name="oldera", value=2))
    (root / "oldera-ebpf" / "Cargo.toml").write_text(
        '[package]\nname = "oldera-ebpf"\nversion = "0.1.0"\nedition = "2021"\n\n'
        '[dependencies]\naya-bpf = { path = "../aya-bpf" }\n\n[profile.release]\npanic = "abort"\n'
    )
    (root / "Cargo.toml").write_text('[workspace]\nmembers = ["oldera-ebpf"]\nresolver = "2"\n')
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    # the gate reads `xdp/oldera` as the project's Aya does: built, not refused
    _, result = build(root, env, "--release")
    built = {o["bin"]: o["path"] for o in result["objects"]}
    assert sorted(built) == ["oldprobe", "oldxdp"], result["objects"]

    # `fs_probe` is no kernel function: not a problem, and not looked up
    done = buildbpf("check", "--json", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    reports = {Path(r["path"]).name: r for r in json.loads(done.stdout)}
    for report in reports.values():
        assert report["sections_name_programs"] is True and report["attach"] == [], report
        assert any("aya-bpf, whose macros" in n for n in report["notes"])
    # named alone (no crate to tell the era), `xdp/oldera` is what today's Aya refuses, and a
    # missing kprobe target is a warning with the hint, never exit 5
    assert buildbpf("check", built["oldxdp"], env=env).returncode == 5
    done = buildbpf("check", "--json", built["oldprobe"], env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    [named] = json.loads(done.stdout)
    assert any("program's own name" in w for w in named["warnings"]), named["warnings"]

    # the verifier helper is Aya 0.14: `xdp/oldera` is not verified (and says why), not refused
    done = buildbpf("check", "--load", cwd=root, env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not verified here: the verifier helper loads with Aya 0.14" in done.stdout
    assert "fs_probe passed" in done.stdout
    if shutil.which("qemu-system-x86_64") is None:
        skip_or_fail("qemu-system-x86_64 is not installed (./bootstrap installs qemu-system-x86)")
    done = buildbpf("check", "--kernel", "5.10", "--json", cwd=root, env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    cells = {r["program"]: r["cells"]["5.10"]["status"] for r in json.loads(done.stdout)["kernels"]["rows"]}
    assert cells == {"fs_probe": "pass", "oldera": "not verified"}


def test_common_crate_with_the_ebpf_library(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # snitchrs' -common: aya and aya-ebpf behind `user`/`kernel` features (README section 3);
    # then kunai's habit (README item 4): aya-ebpf a plain dependency of the -common crate, so
    # the host compiles it too, in the userspace build
    workspace = committed_copy("common-lib", tmp_path / "kcount")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target))
    stderr, result = build(workspace, env, "--release")
    ours = [o for o in result["objects"] if o["crate"] == "kcount-ebpf"]
    assert [(o["bin"], o["target"]) for o in ours] == [("kcount", "bpfel")], stderr[-3000:]
    assert (shared_target / "release" / "kcount").is_file()
    assert git(workspace, "status", "--porcelain") == ""

    manifest = workspace / "kcount-common" / "Cargo.toml"
    text = manifest.read_text()
    optional = "aya-ebpf = { workspace = true, optional = true }"
    plain = text.replace(optional, "aya-ebpf = { workspace = true }")
    plain = plain.replace('kernel = ["aya-ebpf"]', "kernel = []")
    assert plain != text
    manifest.write_text(plain)
    git(workspace, "commit", "-q", "-am", "aya-ebpf for both sides")
    stderr, result = build(workspace, env, "--release")
    ours = [o for o in result["objects"] if o["crate"] == "kcount-ebpf"]
    assert [o["bin"] for o in ours] == ["kcount"], stderr[-3000:]
    assert "kcount-common" not in [o["crate"] for o in result["objects"]]  # a library, not a program
    assert git(workspace, "status", "--porcelain") == ""


def test_plan_of_the_xtask_era_layout(toolchain: Toolchain, tmp_path: Path) -> None:
    """Fast: the outside crate is found and built from its own directory (no compilation)."""
    workspace = committed_copy("xtask-era", tmp_path / "xtask-era")
    done = buildbpf("build", "--release", "--print-plan", cwd=workspace)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    [step] = plan["ebpf"]
    assert step["crates"] == ["oldxdp-ebpf"]
    assert step["cargo"]["cwd"] == str(workspace / "oldxdp-ebpf")  # its own .cargo/config.toml applies
    assert step["cargo"]["env_set"]["PATH"].split(os.pathsep)[0] == str(toolchain.linker.path.parent)
    assert "oldxdp-ebpf" not in plan["userspace"]["crates"]


@pytest.mark.parametrize(
    ("layout", "ebpf"), [("current-template", "tmplxdp-ebpf"), ("common-lib", "kcount-ebpf")]
)
def test_plan_of_aya_build_layouts(toolchain: Toolchain, tmp_path: Path, layout: str, ebpf: str) -> None:
    """Fast: the eBPF crate aya-build builds is left to it (compiled once); -common libs that
    depend on aya-ebpf are neither eBPF roots nor in the way."""
    workspace = committed_copy(layout, tmp_path / layout)
    done = buildbpf("build", "--release", "--print-plan", cwd=workspace)
    assert done.returncode == 0, done.stderr
    plan = json.loads(done.stdout)
    assert plan["ebpf"] == []
    assert [e for e, _ in plan["userspace"]["aya_built"]] == [ebpf]
    assert ebpf not in plan["userspace"]["crates"]


def test_the_ebpf_crates_own_rustflags_reach_its_build(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    # the xtask-era eBPF crate's committed config, plus the bpf rustflags projects add there:
    # a program that exists only with the project's cfg
    workspace = committed_copy("xtask-era", tmp_path / "oldxdp")
    config = workspace / "oldxdp-ebpf" / ".cargo" / "config.toml"
    flags = '\n[target.bpfel-unknown-none]\nrustflags = ["--cfg", "my_feature"]\n'
    config.write_text(config.read_text() + flags)
    source = workspace / "oldxdp-ebpf" / "src" / "main.rs"
    source.write_text(
        source.read_text()
        + "\n#[cfg(my_feature)]\n#[xdp]\npub fn only_with_my_feature(_ctx: XdpContext) -> u32 {\n"
        "    xdp_action::XDP_PASS\n}\n"
    )
    git(workspace, "commit", "-q", "-am", "a cfg of the project's")
    (workspace / "target").symlink_to(shared_target)
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    stderr, result = build(workspace, env, "--release", "-p", "oldxdp-ebpf")
    [published] = [o for o in result["objects"] if o["crate"] == "oldxdp-ebpf"]
    facts = read_facts(elf.parse(Path(published["path"]).read_bytes()))
    assert sorted(p.function for p in facts.programs) == ["oldxdp", "only_with_my_feature"], stderr
    assert gate.gate(Path(published["path"]), crate="oldxdp-ebpf").programs  # still carries BTF
    assert "are not used" not in stderr
    assert git(workspace, "status", "--porcelain") == ""


PROGRAMS = ("one", "two", "three")


def several_outside_crates(destination: Path) -> Path:
    """The xtask-era project with its eBPF code split into one workspace per program under
    `crates/ebpf-programs/`, each in the root's `exclude`, none with a `target-dir` setting
    (the layout of projects with many programs and an xtask that builds each)."""
    workspace = committed_copy("xtask-era", destination)
    ebpf = workspace / "oldxdp-ebpf"
    for name in PROGRAMS:
        crate = workspace / "crates" / "ebpf-programs" / name
        shutil.copytree(ebpf, crate)
        manifest = (crate / "Cargo.toml").read_text().replace('"oldxdp-ebpf"', f'"oldxdp-{name}-ebpf"')
        manifest = manifest.replace('name = "oldxdp"', f'name = "{name}"')
        manifest = manifest.replace('"../oldxdp-common"', '"../../../oldxdp-common"')
        (crate / "Cargo.toml").write_text(manifest)
        lock = (crate / "Cargo.lock").read_text()  # the new name sorts where the old one did
        (crate / "Cargo.lock").write_text(lock.replace('"oldxdp-ebpf"', f'"oldxdp-{name}-ebpf"'))
        (crate / ".cargo" / "config.toml").write_text(
            '[build]\ntarget = "bpfel-unknown-none"\n\n[unstable]\nbuild-std = ["core"]\n'
        )
    shutil.rmtree(ebpf)
    root = (workspace / "Cargo.toml").read_text()
    (workspace / ".gitignore").write_text("target/\n")  # every crate's own target dir too
    excluded = ", ".join(f'"crates/ebpf-programs/{name}"' for name in PROGRAMS)
    (workspace / "Cargo.toml").write_text(root + f"exclude = [{excluded}]\n")
    git(workspace, "add", "-A")
    git(workspace, "commit", "-q", "-m", "one workspace per program")
    return workspace


def test_outside_crates_share_one_target_dir(toolchain: Toolchain, tmp_path: Path) -> None:
    # core and aya-ebpf compiled once for the three, not three times; each object is still left
    # where the project's own xtask build would put it
    workspace = several_outside_crates(tmp_path / "oldxdp")
    env = {k: v for k, v in os.environ.items() if k != "CARGO_TARGET_DIR"}
    packages = [arg for name in PROGRAMS for arg in ("-p", f"oldxdp-{name}-ebpf")]
    stderr, result = build(workspace, env, "--release", *packages)
    assert sorted(o["crate"] for o in result["objects"]) == sorted(f"oldxdp-{n}-ebpf" for n in PROGRAMS)
    cores = [c.relative_to(workspace).parts[:3] for c in workspace.rglob("libcore-*.rlib")]
    assert cores == [("target", "bpfel-unknown-none", "release")], cores
    for name in PROGRAMS:
        [published] = [o for o in result["objects"] if o["crate"] == f"oldxdp-{name}-ebpf"]
        own = workspace / "crates" / "ebpf-programs" / name / "target"
        expected = own / "bpfel-unknown-none" / "release" / name
        assert expected.read_bytes() == Path(published["path"]).read_bytes(), stderr
        assert not (own / "release").exists()
    assert git(workspace, "status", "--porcelain") == ""
