"""Known failure texts get one line of plain advice."""

from __future__ import annotations

import pytest

from buildbpf.build.advice import advise


@pytest.mark.parametrize(
    ("output", "words"),
    [
        (
            "error: Invalid record (Producer: 'LLVM22.1.8-rust-1.96.0' Reader: 'LLVM 21.1.2')",
            "buildbpf setup",
        ),
        ("error: linker `bpf-linker` not found\n  = note: No such file or directory", "doctor"),
        (
            "error: failed to run custom build command for `tmpl-ebpf v0.1.0 (/w/tmpl-ebpf)`\n"
            "--- stderr\nthread 'main' panicked at tmpl-ebpf/build.rs:7:41:\n"
            "called `Result::unwrap()` on an `Err` value: CannotFindBinaryPath",
            "the build script (build.rs) of tmpl-ebpf looked for a program on PATH",
        ),
        (
            "error: failed to run custom build command for `probe v0.1.0 (/w/probe)`\n--- stderr\nboom",
            "the build script (build.rs) of probe failed",
        ),
        ("error: the `-Z` flag is only accepted on the nightly channel of Cargo", "RUSTC_BOOTSTRAP"),
        (
            "error[E0463]: can't find crate for `core`\n"
            "  = note: the `bpfel-unknown-none` target may not be installed",
            "rust-src",
        ),
        ("last insn is not an exit or jmp", "panic=abort"),
        ("error: unexpected argument '-f' found\n\nUsage: bpf-linker [OPTIONS]", "host linker flags"),
        ("error: found duplicate lang item `panic_impl`", "default-members"),
        ("    Blocking waiting for file lock on build directory", "separate target dir"),
        ("error relocating function memset", "memcpy/memset"),
        ("LLVM ERROR: unsupported signed division, please convert to unsigned div/mod.", "v4"),
    ],
)
def test_known_errors(output: str, words: str) -> None:
    advice = advise(output)
    assert advice, output
    assert words in advice[0]


def test_unknown_error_gets_no_advice() -> None:
    assert advise("error[E0308]: mismatched types") == []
