"""Parsing of tool version outputs, from real captured outputs (tests/unit/data)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.errors import ConfigError, ToolchainError
from buildbpf.toolchain.pin import find_toolchain_file, parse_toolchain_file
from buildbpf.toolchain.versions import (
    Version,
    llvm_from_needed,
    parse_bpf_linker_version,
    parse_cargo_version,
    parse_llvm_version,
    parse_rustc_vv,
)

DATA = Path(__file__).parent / "data"


def read(name: str) -> str:
    return (DATA / name).read_text()


@pytest.mark.parametrize(
    ("name", "release", "version", "channel", "date", "host", "llvm"),
    [
        # Debian's rustc-web: "(built from a source tarball)" after the version
        (
            "rustc-vV-debian.txt",
            "1.96.0",
            Version(1, 96, 0),
            "stable",
            "2026-05-25",
            "x86_64-unknown-linux-gnu",
            Version(22, 1, 8),
        ),
        (
            "rustc-vV-nightly.txt",
            "1.97.0-nightly",
            Version(1, 97, 0),
            "nightly",
            "2026-05-19",
            "x86_64-unknown-linux-gnu",
            Version(22, 1, 4),
        ),
        (
            "rustc-vV-rustup-stable.txt",
            "1.95.0",
            Version(1, 95, 0),
            "stable",
            "2026-04-14",
            "x86_64-unknown-linux-gnu",
            Version(22, 1, 2),
        ),
        (
            "rustc-vV-beta.txt",
            "1.97.0-beta.3",
            Version(1, 97, 0),
            "beta",
            "2026-05-30",
            "x86_64-unknown-linux-gnu",
            Version(22, 1, 6),
        ),
        # a rustc built from a git checkout: no commit info at all
        (
            "rustc-vV-source-dev.txt",
            "1.98.0-dev",
            Version(1, 98, 0),
            "dev",
            None,
            "aarch64-unknown-linux-gnu",
            Version(23, 0, 0),
        ),
    ],
)
def test_parse_rustc_vv(
    name: str,
    release: str,
    version: Version,
    channel: str,
    date: str | None,
    host: str,
    llvm: Version,
) -> None:
    info = parse_rustc_vv(read(name))
    assert (info.release, info.version, info.channel, info.commit_date, info.host, info.llvm) == (
        release,
        version,
        channel,
        date,
        host,
        llvm,
    )


def test_parse_rustc_vv_without_llvm_line() -> None:
    text = read("rustc-vV-debian.txt").replace("LLVM version: 22.1.8\n", "")
    assert parse_rustc_vv(text).llvm is None


def test_parse_rustc_vv_rejects_non_rustc() -> None:
    with pytest.raises(ToolchainError, match="release"):
        parse_rustc_vv("gcc (Debian 12.2.0-14) 12.2.0\n")


@pytest.mark.parametrize(
    ("name", "version", "channel", "date"),
    [
        ("cargo-V-debian.txt", Version(1, 96, 0), "stable", "2026-05-25"),
        ("cargo-V-nightly.txt", Version(1, 97, 0), "nightly", "2026-05-15"),
        ("cargo-V-rustup-stable.txt", Version(1, 95, 0), "stable", "2026-03-21"),
        ("cargo-vV-debian.txt", Version(1, 96, 0), "stable", "2026-05-25"),
    ],
)
def test_parse_cargo_version(name: str, version: Version, channel: str, date: str) -> None:
    info = parse_cargo_version(read(name))
    assert (info.version, info.channel, info.commit_date) == (version, channel, date)


def test_parse_cargo_version_without_commit() -> None:
    info = parse_cargo_version("cargo 1.98.0-dev\n")
    assert (info.version, info.channel, info.commit_date) == (Version(1, 98, 0), "dev", None)


def test_parse_cargo_version_garbage() -> None:
    with pytest.raises(ToolchainError):
        parse_cargo_version("error: no such command\n")


def test_parse_bpf_linker_version() -> None:
    assert parse_bpf_linker_version(read("bpf-linker-version.txt")) == Version(0, 13, 0)
    with pytest.raises(ToolchainError):
        parse_bpf_linker_version("bpf-linker\n")


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("bpf-linker-llvm-debian.txt", Version(22, 1, 8)),  # "Debian LLVM version 22.1.8"
        (
            "bpf-linker-llvm-rustc.txt",
            Version(22, 1, 4),
        ),  # "LLVM version 22.1.4-rust-1.97.0-nightly"
    ],
)
def test_parse_llvm_version_of_linker(name: str, expected: Version) -> None:
    assert parse_llvm_version(read(name)) == expected


def test_parse_llvm_version_absent() -> None:
    assert parse_llvm_version("error: the following required arguments were not provided") is None


@pytest.mark.parametrize(
    ("needed", "expected"),
    [
        (["libLLVM.so.22.1", "libc.so.6"], Version(22, 1)),
        (["libstdc++.so.6", "libLLVM-21.so"], Version(21, 0)),
        (["libLLVM.so.22.1-rust-1.97.0-nightly"], Version(22, 1)),
        (["libc.so.6", "libz.so.1"], None),
    ],
)
def test_llvm_from_needed(needed: list[str], expected: Version | None) -> None:
    assert llvm_from_needed(needed) == expected


@pytest.mark.parametrize(
    ("filename", "text", "expected"),
    [
        (
            "rust-toolchain.toml",
            '[toolchain]\nchannel = "nightly-2026-05-01"\ncomponents = ["rust-src"]\n',
            "nightly-2026-05-01",
        ),
        ("rust-toolchain.toml", '[toolchain]\ncomponents = ["rust-src"]\n', None),
        ("rust-toolchain", "nightly\n", "nightly"),
        ("rust-toolchain", '[toolchain]\nchannel = "stable"\n', "stable"),
        ("rust-toolchain.toml", "", None),
    ],
)
def test_parse_toolchain_file(tmp_path: Path, filename: str, text: str, expected: str | None) -> None:
    assert parse_toolchain_file(text, tmp_path / filename) == expected


@pytest.mark.parametrize(
    "text",
    [
        '[toolchain\nchannel = "nightly"\n',
        'channel = "nightly"\nfoo = 1\n',
        "[toolchain]\nchannel = 3\n",
    ],
)
def test_parse_toolchain_file_errors_name_the_file(tmp_path: Path, text: str) -> None:
    path = tmp_path / "rust-toolchain.toml"
    with pytest.raises(ConfigError, match=r"rust-toolchain\.toml"):
        parse_toolchain_file(text, path)


def test_find_toolchain_file_walks_up(tmp_path: Path) -> None:
    (tmp_path / "rust-toolchain.toml").write_text('[toolchain]\nchannel = "nightly"\n')
    crate = tmp_path / "crates" / "probe-ebpf" / "src"
    crate.mkdir(parents=True)
    assert find_toolchain_file(crate) == tmp_path / "rust-toolchain.toml"
    (crate.parent / "rust-toolchain").write_text("nightly-2026-01-01\n")
    assert find_toolchain_file(crate) == crate.parent / "rust-toolchain"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('[toolchain]\nchannel = "nightly"\ncomponents = ["rust-src", "clippy"]\n', ("rust-src", "clippy")),
        ('[toolchain]\nchannel = "nightly"\n', ()),
        ("nightly\n", ()),
        ('[toolchain]\ncomponents = "rust-src"\n', ()),
    ],
)
def test_toolchain_file_components(text: str, expected: tuple[str, ...]) -> None:
    from buildbpf.toolchain.pin import toolchain_file_components

    assert toolchain_file_components(text) == expected
