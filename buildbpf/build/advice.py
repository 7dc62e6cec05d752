"""Known error texts of cargo, rustc and bpf-linker, each with one line of plain advice.

From docs/pitfalls.md; matched against the captured output of a failed build.
"""

from __future__ import annotations

import re
from collections.abc import Collection

from buildbpf._process import exited
from buildbpf.errors import CargoError
from buildbpf.terminal import strip_ansi

KNOWN: tuple[tuple[re.Pattern[str], str], ...] = tuple(
    (re.compile(pattern, re.IGNORECASE | re.MULTILINE), advice)
    for pattern, advice in (
        (
            r"Invalid record|Unknown attribute kind|Producer: 'LLVM",
            "bpf-linker runs on another LLVM than rustc; run `buildbpf setup` to build one that matches "
            "(PITFALLS #1)",
        ),
        (
            r"No suitable version of LLVM was found|One of the LLVM feature flags must be provided",
            "bpf-linker needs one exact LLVM: `buildbpf setup` picks the llvm-N feature matching rustc",
        ),
        (
            # aya-template's eBPF build.rs: `which("bpf-linker").unwrap()` (PITFALLS #22)
            r"failed to run custom build command for `([^`@ ]+)[^`]*`[\s\S]*CannotFindBinaryPath",
            "the build script (build.rs) of {0} looked for a program on PATH and did not find it; "
            "buildbpf puts bpf-linker's directory first on PATH for every cargo call, so check that "
            "`buildbpf doctor` finds bpf-linker and that the build script looks for that name",
        ),
        (
            r"linker `?bpf-linker`? not found|CannotFindBinaryPath",
            "bpf-linker is not where cargo looked; `buildbpf doctor` shows which one buildbpf uses",
        ),
        (
            r"the `-Z` flag is only accepted on the nightly channel|no such command: `\+nightly`",
            "nightly cargo features are off: buildbpf enables them itself (nightly toolchain or "
            "RUSTC_BOOTSTRAP=1); do not run the eBPF cargo by hand with a stable toolchain",
        ),
        (
            r"can't find crate for `core`|rustlib/src/rust/(library/)?Cargo\.lock.*does not exist",
            "eBPF targets have no prebuilt core: rust-src is needed for -Z build-std=core "
            "(`rustup component add rust-src --toolchain nightly` or apt-get install rust-web-src)",
        ),
        (
            r"last insn is not an exit or jmp|built-in function 'abort' is not supported",
            "a debug or unwinding build reached the verifier; build eBPF crates with release settings "
            "and panic=abort (buildbpf forces both)",
        ),
        (
            r"BTF is required, but is missing",
            "BTF needs both `-C debuginfo=2` and `-C link-arg=--btf`; leave `btf = true` in buildbpf.toml",
        ),
        (
            r"unexpected argument '[^']*' found[\s\S]{0,200}Usage: bpf-linker",
            "host linker flags (RUSTFLAGS, -C link-arg=-fuse-ld=...) reached bpf-linker; move them to a "
            "host-only [target.<host>] table",
        ),
        (
            r"duplicate lang item .*panic_impl|found duplicate lang item",
            "std and a no_std panic handler met: keep the eBPF crate out of default-members and build "
            "it only for the bpf target",
        ),
        (
            # a nested cargo's own wait, in its build script's output (dumped under the failure, or
            # forwarded as `warning: PKG@VER:` lines as aya-build does): the outer cargo holds the lock
            r"failed to run custom build command for `([^`@ ]+)[^`]*`[\s\S]*Blocking waiting for file lock"
            r"|^warning: ([^\s@:]+)@[^\s:]*:\s*Blocking waiting for file lock",
            "the build script (build.rs) of {0} runs a nested cargo on the same target dir, which "
            "waits for the lock of the cargo that runs it: give the nested build its own --target-dir "
            "(PITFALLS #13)",
        ),
        (
            # cargo's own status line: the lock was held before this cargo started anything, so by
            # another process (a second build, an editor's `cargo check`), never by its own build.rs
            r"^ {4}Blocking waiting for file lock on (?:build|artifact) directory",
            "another cargo is using the target dir (a second build, an editor's `cargo check`, another "
            "buildbpf): cargo waited for its lock; let it finish or stop it, then build again",
        ),
        (
            r"^ {4}Blocking waiting for file lock on package cache",
            "another cargo is using the package cache (resolving or downloading crates): let it "
            "finish, then build again",
        ),
        (
            r"error relocating function|missing btf func_info|undefined symbol.*\bmem(cpy|set|move|cmp)\b",
            "a memcpy/memset call LLVM could not expand: copy smaller fixed-size values, or check "
            "`buildbpf check` for the undefined symbols",
        ),
        (
            r"unsupported signed division",
            'BPF before ISA v4 has no signed division: use unsigned types, or cpu = "v4" '
            "(kernel 6.6+) under [crates.NAME.linker]",
        ),
        (
            r"BPF stack limit|stack limit is exceeded|combined stack size",
            "more than 512 bytes of stack: move large values into a per-CPU array map",
        ),
        (
            # last: any other build-script failure; its own output says why
            r"failed to run custom build command for `([^`@ ]+)[^`]*`",
            "the build script (build.rs) of {0} failed; its own output above (`--- stderr`) says why",
        ),
    )
)


# rustc on an include_bytes! of BUILDBPF_OBJECTS/NAME when no object NAME is published there
_MISSING_OBJECT = re.compile(r"couldn't read `[^`\n]*/buildbpf/bpfe[lb]-unknown-none/([^`/\n]+)`")


def _missing_object(output: str, bins: Collection[str] | None) -> str | None:
    """Advice for userspace embedding an object no eBPF bin of the workspace (`bins`) makes."""
    match = _MISSING_OBJECT.search(output)
    if match is None or (bins is not None and match[1] in bins):
        return None
    name = match[1]
    now = f" (its eBPF bins now: {', '.join(sorted(bins)) or 'none'})" if bins is not None else ""
    return (
        f"userspace embeds `{name}` from BUILDBPF_OBJECTS, but no eBPF bin of this workspace is named "
        f"`{name}`{now}: if it was renamed or removed, buildbpf removed the object it published for it; "
        f'embed the bin by its name now (include_bytes!(concat!(env!("BUILDBPF_OBJECTS"), "/NAME")))'
    )


def advise(output: str, bins: Collection[str] | None = None) -> list[str]:
    """Advice lines for every known error in `output`, in table order, without repeats.

    `output` is what cargo printed, colours and all (it may have talked as to a terminal);
    `bins`: the workspace's eBPF bins, when known."""
    output = strip_ansi(output)
    found = [line] if (line := _missing_object(output, bins)) is not None else []
    for pattern, advice in KNOWN:
        if (match := pattern.search(output)) is not None:
            found.append(advice.format(*(group for group in match.groups() if group is not None)))
    return list(dict.fromkeys(found))


def cargo_failure(what: str, returncode: int, output: str, bins: Collection[str] | None = None) -> CargoError:
    """The error for a failed cargo call: which build, its status, and the advice for its output
    (`bins`: the workspace's eBPF bins, when known)."""
    advice = advise(output, bins)
    silent = "" if output.strip() else " and printed nothing"  # killed, or not cargo at all
    message = f"{what} failed (cargo {exited(returncode)}{silent})"
    if len(advice) > 1:
        message += "\n  also: " + "\n  also: ".join(advice[1:])
    return CargoError(
        message, fix=advice[0] if advice else "read the first error above; it is usually the cause"
    )
