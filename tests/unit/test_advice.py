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


NESTED = "nested cargo on the same target dir"
ANOTHER = "another cargo is using the target dir"


@pytest.mark.parametrize(
    ("output", "words"),
    [
        # cargo's own status line: another process held the lock before this cargo started
        (
            "    Blocking waiting for file lock on build directory\n   Compiling probe v0.1.0\n"
            "error[E0308]: mismatched types",
            ANOTHER,
        ),
        ("\x1b[1m\x1b[36m    Blocking\x1b[0m waiting for file lock on artifact directory", ANOTHER),
        ("    Blocking waiting for file lock on package cache", "another cargo is using the package cache"),
        # a nested cargo's own wait, in the output of the build script that ran it
        (
            "error: failed to run custom build command for `probe v0.1.0 (/w/probe)`\n\nCaused by:\n"
            "  process didn't exit successfully: `/w/target/release/build/probe-1/build-script-build`\n"
            "  --- stderr\n      Blocking waiting for file lock on build directory\n",
            f"build script (build.rs) of probe runs a {NESTED}",
        ),
        (
            "warning: probe@0.1.0:     Blocking waiting for file lock on build directory\n"
            "error: could not compile `probe`",
            f"build script (build.rs) of probe runs a {NESTED}",
        ),
    ],
)
def test_a_lock_wait_names_who_holds_the_lock(output: str, words: str) -> None:
    """Only a wait inside a build script's output is a nested cargo; cargo's own is another cargo."""
    advice = advise(output)
    assert advice and words in advice[0], advice
    if words != f"build script (build.rs) of probe runs a {NESTED}":
        assert not any("nested" in line for line in advice), advice
