"""Issue #20 with real cargo: a renamed eBPF bin leaves no object for userspace to embed, and a
replay that hands over to the full path runs each cargo call once and times the whole build."""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import time
from pathlib import Path

from buildbpf.objects import gate
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf
from tests.integration.test_layouts import committed_copy

PAST = time.time_ns() - 60 * 10**9
EMBED = 'static OBJECT: &[u8] = include_bytes!(concat!(env!("BUILDBPF_OBJECTS"), "/{}"));\n'


def renamable_workspace(root: Path) -> Path:
    """A registry-free eBPF crate with bin `ren`, and a userspace crate that embeds it."""
    root.mkdir()
    (root / "Cargo.toml").write_text(
        '[workspace]\nmembers = ["ren-ebpf", "ren-user"]\ndefault-members = ["ren-user"]\nresolver = "2"\n'
    )
    (root / "buildbpf.toml").write_text('[crates.ren-ebpf]\nrole = "ebpf"\n')
    ebpf = root / "ren-ebpf"
    (ebpf / "src").mkdir(parents=True)
    shutil.copyfile(FIXTURES / "minimal-ebpf" / "src" / "main.rs", ebpf / "src" / "main.rs")
    (ebpf / "Cargo.toml").write_text(
        '[package]\nname = "ren-ebpf"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n\n'
        '[[bin]]\nname = "ren"\npath = "src/main.rs"\n'
    )
    user = root / "ren-user"
    (user / "src").mkdir(parents=True)
    (user / "Cargo.toml").write_text(
        '[package]\nname = "ren-user"\nversion = "0.1.0"\nedition = "2021"\npublish = false\n'
    )
    main = 'fn main() { println!("{}", OBJECT.len()); }\n'
    (user / "src" / "main.rs").write_text(EMBED.format("ren") + main)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new))


def embedded_digests(binary: Path) -> set[str]:
    return {hashlib.sha256(data).hexdigest() for data in gate.embedded_objects(binary)}


def test_a_renamed_bin_leaves_no_old_object_to_embed(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    root = renamable_workspace(tmp_path / "ren")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), BUILDBPF_NO_REPLAY="1")
    objects = shared_target / "buildbpf" / "bpfel-unknown-none"
    first = buildbpf("build", cwd=root, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    old = objects / "ren"
    assert old.is_file()
    vendored = objects / "vendored"  # a file buildbpf did not write: never removed
    vendored.write_bytes(old.read_bytes())

    # the steps: rename the bin, drop every packet, build; userspace still says `ren`
    edit(root / "ren-ebpf" / "Cargo.toml", 'name = "ren"', 'name = "ren2"')
    edit(root / "ren-ebpf" / "src" / "main.rs", "2 // XDP_PASS", "1 // XDP_DROP")
    renamed = buildbpf("build", cwd=root, env=env)
    assert renamed.returncode == 4, renamed.stderr[-3000:]
    assert "Traceback" not in renamed.stderr
    assert not old.exists()  # the old object is gone: userspace cannot compile it in
    assert (objects / "ren2").is_file() and vendored.is_file()
    assert f"buildbpf: removed {old}: crate ren-ebpf published it" in renamed.stderr
    assert f"couldn't read `{old}`" in renamed.stderr  # rustc's own error, then buildbpf's advice
    fix = renamed.stderr.split("buildbpf: fix: ", 1)[1]
    assert "userspace embeds `ren` from BUILDBPF_OBJECTS" in fix
    assert "no eBPF bin of this workspace is named `ren` (its eBPF bins now: ren2)" in fix

    # embedding the new name: the binary holds the new program, not the old one
    edit(root / "ren-user" / "src" / "main.rs", '"/ren"', '"/ren2"')
    fixed = buildbpf("build", cwd=root, env=env)
    assert fixed.returncode == 0, fixed.stderr[-3000:]
    assert "did not build" not in fixed.stderr
    new = hashlib.sha256((objects / "ren2").read_bytes()).hexdigest()
    assert embedded_digests(shared_target / "debug" / "ren-user") == {new}


def test_a_renamed_bin_in_the_aya_template_layout(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    """aya-build copies objects into OUT_DIR and never removes one: the binary that embeds
    the old one is refused; the copy buildbpf published is removed."""
    workspace = committed_copy("current-template", tmp_path / "tmplxdp")
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), BUILDBPF_NO_REPLAY="1")
    first = buildbpf("build", cwd=workspace, env=env)
    assert first.returncode == 0, first.stderr[-3000:]
    published = shared_target / "buildbpf" / "bpfel-unknown-none" / "tmplxdp"
    verified = [line for line in first.stdout.splitlines() if line.startswith("verified ")]
    assert verified == [line for line in verified if f": {published} — " in line]  # reported once
    assert len(verified) == 1, first.stdout

    edit(workspace / "tmplxdp-ebpf" / "Cargo.toml", 'name = "tmplxdp"\npath', 'name = "tmplxdp2"\npath')
    edit(workspace / "tmplxdp-ebpf" / "src" / "main.rs", "XDP_PASS", "XDP_DROP")
    renamed = buildbpf("build", cwd=workspace, env=env)
    assert renamed.returncode == 5, renamed.stderr[-3000:]
    assert "Traceback" not in renamed.stderr
    binary = shared_target / "debug" / "tmplxdp"
    rejected = rf"buildbpf: artifact rejected: {binary} embeds (\S+/out/tmplxdp), an object an earlier build"
    match = re.search(rejected + r" left there: no eBPF bin is named `tmplxdp` now", renamed.stderr)
    assert match, renamed.stderr[-3000:]
    assert Path(match[1]).is_file()  # aya-build's, in OUT_DIR: not buildbpf's to remove
    assert "fix: embed one of this build's objects by its name now (tmplxdp2)" in renamed.stderr
    assert not binary.exists()  # never left to load the old program
    assert not published.exists()
    assert (published.parent / "tmplxdp2").is_file()


def counting_cargo(directory: Path, real: Path) -> tuple[Path, Path, Path]:
    """A cargo that logs each call's arguments, and sleeps 2 s in `build` while `slow` exists."""
    directory.mkdir()
    log, slow = directory / "calls.log", directory / "slow"
    cargo = directory / "cargo"
    cargo.write_text(
        f'#!/bin/sh\necho "$*" >> {log}\n'
        f'if [ "$1" = build ] && [ -e {slow} ]; then sleep 2; fi\nexec {real} "$@"\n'
    )
    cargo.chmod(0o755)
    return cargo, log, slow


def test_a_handover_runs_each_cargo_call_once_and_times_the_whole_build(
    toolchain: Toolchain, tmp_path: Path, shared_target: Path
) -> None:
    root = renamable_workspace(tmp_path / "handover")
    cargo, log, slow = counting_cargo(tmp_path / "bin", toolchain.rust.cargo)
    # the replay stats the linker it runs: one of this test's own, whatever else touches the shared one
    linker = tmp_path / "bin" / "bpf-linker"
    linker.write_text(f'#!/bin/sh\nexec {toolchain.linker.path} "$@"\n')
    linker.chmod(0o755)
    env = dict(os.environ, CARGO_TARGET_DIR=str(shared_target), BUILDBPF_CACHE_DIR=str(tmp_path / "cache"),
               BUILDBPF_CARGO=str(cargo), BUILDBPF_BPF_LINKER=str(linker))  # fmt: skip
    env.pop("BUILDBPF_NO_REPLAY", None)
    os.utime(root / "buildbpf.toml", ns=(PAST, PAST))

    def build() -> tuple[subprocess.CompletedProcess[str], list[str], float]:
        log.write_text("")
        started = time.monotonic()
        done = buildbpf("build", "-v", cwd=root, env=env)
        wall = time.monotonic() - started
        assert done.returncode == 0, done.stderr[-3000:]
        return done, [line for line in log.read_text().splitlines() if line.startswith("build ")], wall

    build()  # writes the eBPF crate's .cargo/config.toml: not recorded
    for written in (root / "ren-ebpf" / ".cargo" / "config.toml", root / "Cargo.lock"):
        os.utime(written, ns=(PAST, PAST))
    build()  # a clean no-op: recorded
    replayed, calls, _ = build()
    assert "replaying its cargo calls" in replayed.stderr
    assert len(calls) == 2, calls  # the eBPF crate, then userspace

    # a userspace-only edit: the replay runs both calls, userspace rebuilds, the full path takes over
    source = root / "ren-user" / "src" / "main.rs"
    source.write_text(source.read_text() + "// edited\n")
    slow.touch()
    done, calls, wall = build()
    assert "cargo rebuilt part of userspace crates ren-user; planning the build again" in done.stderr
    ran = [c.split(" -Z ")[0].split(" --config ")[0] for c in calls]
    assert ran == ["build -p ren-ebpf", "build -p ren-user"]  # once each, by the replay
    assert done.stderr.count("the replay ran this cargo call before it handed over; using its result") == 2
    assert done.stderr.count("Compiling ren-user") == 1
    assert len([line for line in done.stdout.splitlines() if line.startswith("verified ")]) == 1
    reported = re.search(r"buildbpf: finished in (\d+\.\d) s", done.stderr)
    assert reported, done.stderr[-2000:]
    # from the start of buildbpf: the replay's two slow calls, and little but Python's start outside it
    assert float(reported[1]) >= 4.0 and wall - float(reported[1]) < 1.5, (reported[0], wall)
