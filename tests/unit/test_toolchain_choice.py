"""Which rustc and which bpf-linker buildbpf picks, and the errors when none fits."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from buildbpf.errors import ToolchainError
from buildbpf.toolchain.linker import BpfLinker, choose_linker
from buildbpf.toolchain.pin import Pin
from buildbpf.toolchain.rust import RUST_SRC_MARKER, Candidate, choose, path_rustcs, rustup_toolchains
from buildbpf.toolchain.versions import Version
from tests.support import as_unprivileged, world_readable_tmp


def make_sysroot(root: Path, *, rust_src: bool, cargo: bool = True) -> Path:
    (root / "bin").mkdir(parents=True)
    for tool in ("rustc", "cargo") if cargo else ("rustc",):
        exe = root / "bin" / tool
        exe.write_text("#!/bin/sh\n")
        exe.chmod(0o755)
    if rust_src:
        marker = root / RUST_SRC_MARKER
        marker.parent.mkdir(parents=True)
        marker.write_text("")
    return root


@pytest.fixture
def rustup_home(tmp_path: Path) -> Path:
    home = tmp_path / "rustup"
    toolchains = home / "toolchains"
    make_sysroot(toolchains / "stable-x86_64-unknown-linux-gnu", rust_src=True)
    make_sysroot(toolchains / "nightly-x86_64-unknown-linux-gnu", rust_src=False)
    make_sysroot(toolchains / "nightly-2026-01-15-x86_64-unknown-linux-gnu", rust_src=True)
    make_sysroot(toolchains / "nightly-2026-03-01-x86_64-unknown-linux-gnu", rust_src=True)
    return home


@pytest.fixture
def debian(tmp_path: Path) -> Path:
    return make_sysroot(tmp_path / "usr", rust_src=True)


def candidates(rustup_home: Path, debian: Path) -> list[Candidate]:
    return [*rustup_toolchains(rustup_home), *path_rustcs(str(debian / "bin"), extra=())]


def test_rustup_toolchains_are_read_from_disk(rustup_home: Path) -> None:
    names = [c.rustup_name for c in rustup_toolchains(rustup_home)]
    assert names == [
        "nightly-2026-01-15-x86_64-unknown-linux-gnu",
        "nightly-2026-03-01-x86_64-unknown-linux-gnu",
        "nightly-x86_64-unknown-linux-gnu",
        "stable-x86_64-unknown-linux-gnu",
    ]


def test_missing_rustup_home_is_empty(tmp_path: Path) -> None:
    assert rustup_toolchains(tmp_path / "nowhere") == []


def test_nightly_with_rust_src_beats_system_rustc(rustup_home: Path, debian: Path) -> None:
    chosen = choose(candidates(rustup_home, debian))
    # plain `nightly` has no rust-src, so the newest dated nightly wins
    assert chosen.rustup_name == "nightly-2026-03-01-x86_64-unknown-linux-gnu"


def test_plain_nightly_preferred_when_it_has_rust_src(rustup_home: Path, debian: Path) -> None:
    marker = rustup_home / "toolchains" / "nightly-x86_64-unknown-linux-gnu" / RUST_SRC_MARKER
    marker.parent.mkdir(parents=True)
    marker.write_text("")
    assert choose(candidates(rustup_home, debian)).rustup_name == "nightly-x86_64-unknown-linux-gnu"


def test_system_rustc_with_rust_src_beats_stable_rustup(tmp_path: Path, debian: Path) -> None:
    home = tmp_path / "rustup"
    make_sysroot(home / "toolchains" / "stable-x86_64-unknown-linux-gnu", rust_src=True)
    make_sysroot(home / "toolchains" / "nightly-x86_64-unknown-linux-gnu", rust_src=False)
    chosen = choose(candidates(home, debian))
    assert chosen.rustup_name is None
    assert chosen.rustc == (debian / "bin" / "rustc").resolve()


def test_stable_rustup_with_rust_src_is_the_last_resort(tmp_path: Path) -> None:
    home = tmp_path / "rustup"
    make_sysroot(home / "toolchains" / "stable-x86_64-unknown-linux-gnu", rust_src=True)
    chosen = choose(rustup_toolchains(home))
    assert chosen.rustup_name == "stable-x86_64-unknown-linux-gnu"


def test_pin_wins_and_matches_without_host(rustup_home: Path, debian: Path) -> None:
    pin = Pin("nightly-2026-01-15", "--toolchain")
    assert choose(candidates(rustup_home, debian), pin).rustup_name == (
        "nightly-2026-01-15-x86_64-unknown-linux-gnu"
    )


def test_pin_nightly_does_not_match_dated_nightly(rustup_home: Path, debian: Path) -> None:
    # `nightly` is installed but without rust-src: the error names the pin and the fix,
    # it does not silently pick nightly-2026-03-01
    with pytest.raises(ToolchainError) as caught:
        choose(candidates(rustup_home, debian), Pin("nightly", "--toolchain"))
    assert "rust-src" in caught.value.message
    assert caught.value.fix == "rustup component add rust-src --toolchain nightly"


def test_explicit_pin_not_installed(rustup_home: Path, debian: Path) -> None:
    with pytest.raises(ToolchainError) as caught:
        choose(candidates(rustup_home, debian), Pin("nightly-2020-01-01", "BUILDBPF_TOOLCHAIN"))
    assert "BUILDBPF_TOOLCHAIN" in caught.value.message
    assert caught.value.fix == "rustup toolchain install nightly-2020-01-01 --component rust-src"


def test_toolchain_file_pin_not_installed_falls_back(tmp_path: Path, debian: Path) -> None:
    pin = Pin("nightly-2020-01-01", "ebpf/rust-toolchain.toml", explicit=False)
    assert choose(path_rustcs(str(debian / "bin"), extra=()), pin).rustup_name is None


@pytest.mark.parametrize("components", [(), ("rust-src", "clippy")])
def test_toolchain_file_pin_without_rust_src_falls_back(
    rustup_home: Path, debian: Path, components: tuple[str, ...], caplog: pytest.LogCaptureFixture
) -> None:
    # the template habit: rust-toolchain.toml says `nightly` (often with components =
    # ["rust-src"], which only rustup's proxy would add); buildbpf runs toolchains by path
    pin = Pin("nightly", "x-ebpf/rust-toolchain.toml", explicit=False, components=components)
    chosen = choose(candidates(rustup_home, debian), pin)
    assert chosen.rustup_name == "nightly-2026-03-01-x86_64-unknown-linux-gnu"
    [line] = [r.getMessage() for r in caplog.records]
    assert line.startswith("x-ebpf/rust-toolchain.toml pins nightly, whose rust-src")
    assert "rustup component add rust-src --toolchain nightly" in line
    assert ("`components` asks for it" in line) == bool(components)


def test_toolchain_file_pin_with_rust_src_wins(rustup_home: Path, debian: Path) -> None:
    pin = Pin("stable", "rust-toolchain.toml", explicit=False)
    assert choose(candidates(rustup_home, debian), pin).rustup_name == "stable-x86_64-unknown-linux-gnu"


def test_buildbpf_rustc_ignores_a_pin(
    tmp_path: Path, debian: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from buildbpf.toolchain import probe_cache, rust

    monkeypatch.setenv("BUILDBPF_RUSTC", str(debian / "bin" / "rustc"))
    monkeypatch.setattr(probe_cache, "cached_probe", lambda *_: {"stdout": RUSTC_VV})
    rust = rust.resolve_rust(Pin("nightly-1999-01-01", "rust-toolchain.toml", explicit=False))
    assert rust.rustc == (debian / "bin" / "rustc").resolve()
    assert not [r for r in caplog.records if r.levelname == "WARNING"]  # no "is not installed"


RUSTC_VV = """rustc 1.96.0 (abc 2026-05-01) (built from a source tarball)
binary: rustc
commit-hash: abc
commit-date: 2026-05-01
host: x86_64-unknown-linux-gnu
release: 1.96.0
LLVM version: 22.1.8
"""


def test_no_rust_src_anywhere(tmp_path: Path) -> None:
    make_sysroot(tmp_path / "usr", rust_src=False)
    with pytest.raises(ToolchainError) as caught:
        choose(path_rustcs(str(tmp_path / "usr" / "bin"), extra=()))
    assert "rust-src" in caught.value.message
    assert caught.value.fix is not None
    assert "rust-web-src" in caught.value.fix


def test_no_rustc_at_all() -> None:
    with pytest.raises(ToolchainError, match="no rustc was found"):
        choose([])


def test_rustc_without_cargo_is_not_usable(tmp_path: Path) -> None:
    make_sysroot(tmp_path / "usr", rust_src=True, cargo=False)
    with pytest.raises(ToolchainError):
        choose(path_rustcs(str(tmp_path / "usr" / "bin"), extra=()))


def test_rustup_proxy_on_path_is_ignored(tmp_path: Path, debian: Path) -> None:
    # ~/.cargo/bin/rustc -> rustup: the proxy would run the *default* toolchain
    cargo_bin = tmp_path / "cargo-home" / "bin"
    cargo_bin.mkdir(parents=True)
    (cargo_bin / "rustup").write_text("#!/bin/sh\n")
    (cargo_bin / "rustup").chmod(0o755)
    for tool in ("rustc", "cargo"):
        (cargo_bin / tool).symlink_to("rustup")
    found = path_rustcs(os.pathsep.join([str(cargo_bin), str(debian / "bin")]), extra=())
    assert [c.rustc for c in found] == [(debian / "bin" / "rustc").resolve()]


def linker(name: str, llvm: Version | None) -> BpfLinker:
    return BpfLinker(Path(f"/opt/{name}/bpf-linker"), name, Version(0, 13, 0), llvm)


def test_linker_first_matching_major_wins() -> None:
    found = [linker("old", Version(21, 1, 0)), linker("good", Version(22, 1, 8))]
    choice = choose_linker(found, 22)
    assert choice.require().source == "good"
    assert [r.source for r in choice.rejected] == ["old"]


def test_linker_mismatch_is_an_error_with_the_fix() -> None:
    choice = choose_linker([linker("old", Version(21, 1, 0))], 22)
    with pytest.raises(ToolchainError) as caught:
        choice.require()
    assert "LLVM 21.1.0" in caught.value.message
    assert "rustc's LLVM 22" in caught.value.message
    assert caught.value.fix is not None
    assert "buildbpf setup" in caught.value.fix
    assert "llvm-22" in caught.value.fix


def test_explicit_linker_mismatch_does_not_fall_back() -> None:
    found = [linker("named", Version(21, 1, 0)), linker("good", Version(22, 1, 8))]
    assert choose_linker(found, 22, explicit=True).chosen is None


def test_linker_with_unknown_llvm_is_not_trusted() -> None:
    assert choose_linker([linker("mystery", None)], 22).chosen is None


def test_no_linker_at_all() -> None:
    with pytest.raises(ToolchainError) as caught:
        choose_linker([], 22).require()
    assert "not found" in caught.value.message
    assert caught.value.fix is not None
    assert "buildbpf setup" in caught.value.fix


def test_probe_cache_follows_the_binary(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from buildbpf.toolchain.probe_cache import cached_probe

    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    tool = tmp_path / "rustc"
    tool.write_text("v1")
    calls: list[int] = []

    def compute() -> dict[str, str | None]:
        calls.append(1)
        return {"stdout": f"answer {len(calls)}"}

    assert cached_probe(tool, "rustc -vV", compute) == {"stdout": "answer 1"}
    assert cached_probe(tool, "rustc -vV", compute) == {"stdout": "answer 1"}  # from the cache
    assert len(calls) == 1
    tool.write_text("v2, rebuilt")  # another size: probed again
    assert cached_probe(tool, "rustc -vV", compute) == {"stdout": "answer 2"}
    (tmp_path / "cache" / "probes.json").write_text("{broken")
    assert cached_probe(tool, "rustc -vV", compute) == {"stdout": "answer 3"}  # a broken cache is rebuilt


def test_a_path_entry_this_user_cannot_read_is_skipped() -> None:
    """`sudo -u someone buildbpf` with root's PATH: /root/bin cannot be looked into (issue #11)."""
    with world_readable_tmp() as base:
        locked = base / "root-home"
        make_sysroot(locked, rust_src=True)
        locked.chmod(0o700)  # like /root: its bin/ cannot be searched by anyone else
        usable = make_sysroot(base / "usr", rust_src=True)
        path_env = f"{locked / 'bin'}:{usable / 'bin'}"
        found = as_unprivileged(lambda: path_rustcs(path_env, extra=()))
        assert [c.rustc for c in found] == [usable / "bin" / "rustc"]
        assert as_unprivileged(lambda: choose(found).rustc) == usable / "bin" / "rustc"
