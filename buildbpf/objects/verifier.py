"""`check --load`: run every program of an object through the running kernel's verifier.

Aya objects use the legacy `maps` section that libbpf (and so bpftool) refuse, so the
loading is done by Aya itself: `buildbpf/_loader`, a small Rust program shipped with
buildbpf, built on first use with the resolved toolchain and cached by content. Maps that
ask to be pinned are pinned in a bpffs private to the helper (its own mount namespace), so
the kernel frees every program and map when it exits, however it exits.

Three verdicts, as Aya's loader would meet them (docs/pitfalls.md, "check --load"):
verified; rejected (the verifier, or the kernel checking the program, said no); not
verified here (nothing was judged: the program needs an attach target only its userspace
knows, its BTF attach target is not in this kernel, or this kernel refuses the program
type before the verifier runs - BPF LSM inactive, a missing capability, a security policy).
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import sys
from dataclasses import dataclass, replace
from pathlib import Path

from buildbpf import _fs
from buildbpf._process import run
from buildbpf.cargo.env import leaky_variables
from buildbpf.errors import KernelError, ToolchainError
from buildbpf.objects import kernel
from buildbpf.objects.sections import load_target
from buildbpf.toolchain.rust import RustToolchain

LOADER_SOURCE = Path(__file__).parent / "_loader"
EPERM = 1
CAP_NET_ADMIN = kernel.CAP_NET_ADMIN


@dataclass(frozen=True)
class KernelFacts:
    """What the helper saw of the kernel: where maps get pinned, which LSMs are active."""

    bpffs: str | None = None  # "private" (the helper's own) or "host"
    lsms: tuple[str, ...] | None = None  # None: could not be read


@dataclass(frozen=True)
class ProgramLoad:
    """What the kernel said about one program."""

    name: str
    type: str
    ok: bool
    error: str | None = None
    verifier_log: str | None = None
    translated_insns: int | None = None
    verified_insns: int | None = None
    jited_bytes: int | None = None
    errno: int | None = None
    needs: str | None = None  # the helper did not try: "target", "btf", "program" or "attach"
    status: str = "verified"  # "verified", "rejected" or "not verified"
    reason: str | None = None  # why not verified, and what would make it checkable
    source: str | None = None  # where in the Rust source it was rejected: `src/main.rs:42:9`
    source_text: str | None = None  # that line of the source, when the file is there


def _source_files() -> list[Path]:
    return [LOADER_SOURCE / "Cargo.toml", LOADER_SOURCE / "Cargo.lock", LOADER_SOURCE / "src" / "main.rs"]


def loader_binary(rust: RustToolchain) -> Path:
    """The helper binary for this toolchain, built once and cached by source + rustc version."""
    digest = hashlib.sha256(rust.rustc_info.release.encode())
    for path in _source_files():
        digest.update(path.read_bytes())
    built = Path("target", "release", "buildbpf-loader")
    home = _fs.built_cache("loader", digest.hexdigest()[:16], what="the verifier helper",
                           ready=lambda home: _fs.is_executable(home / built))  # fmt: skip
    binary = home / built
    if _fs.is_executable(binary):
        return binary
    source = home / "src"
    for path in _source_files():
        destination = source / path.relative_to(LOADER_SOURCE)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, destination)
    env = {k: v for k, v in rust.cargo_env().items() if k != "RUSTC_BOOTSTRAP"}
    env["CARGO_TARGET_DIR"] = str(home / "target")
    # stderr only: stdout may be `check --json`
    print("buildbpf: building the verifier helper (once per toolchain)", file=sys.stderr, flush=True)
    # cwd: cargo reads .cargo/config.toml from the directory it runs in, and an eBPF crate's
    # (target = bpfel, build-std) must not apply to this host program
    run(
        [rust.cargo, "build", "--release", "--locked", "--manifest-path", str(source / "Cargo.toml")],
        cwd=source,
        env_set=env,
        env_remove=leaky_variables(os.environ),
        echo_stdout=False,
    )
    if not binary.is_file():
        raise ToolchainError(f"the verifier helper was built but {binary} is missing")
    return binary


def require_privilege() -> None:
    """A clear KernelError instead of EPERM from deep inside the loader."""
    if not kernel.can_load_by_capabilities(kernel.effective_capabilities(), os.geteuid()):
        raise KernelError(
            "loading programs into the kernel needs root or CAP_BPF+CAP_PERFMON",
            fix="run `sudo buildbpf check --load`, or check without --load",
        )


def attach_targets(sections: dict[str, str]) -> list[str]:
    """`FUNCTION=TARGET` arguments for programs whose section names their BTF target."""
    found = []
    for function, section in sections.items():
        target = load_target(section)
        if target is not None:
            found.append(f"{function}={target}")
    return found


def judge(load: ProgramLoad, facts: KernelFacts, caps: int) -> ProgramLoad:
    """The verdict on one program: only the verifier's (or the kernel's) judgement rejects.

    EPERM with an empty verifier log means the kernel refused before verifying anything;
    `caps` (the effective capability mask) tells a missing capability from a policy.
    """
    if load.ok:
        return load
    base = load.type.split("(", 1)[0]
    if load.needs is not None:
        fix = {
            "target": f"pass --attach-target {load.name}=FUNCTION to check it against this kernel",
            "btf": "this kernel has no /sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)",
            "program": "freplace programs are checked by loading them next to their target",
            "attach": "this kernel cannot attach it (userspace's load fails the same way here)",
        }[load.needs]
        return replace(load, status="not verified", reason=f"{load.error}; {fix}")
    if load.errno != EPERM or (load.verifier_log or "").strip():
        return replace(load, status="rejected")
    reason = kernel.refusal(base, facts.lsms, caps)
    return replace(load, status="not verified", reason=reason)


# `[71, 80, 76, 88]`: a Debug-printed byte slice in an Aya error or panic, maybe cut short
_BYTE_DUMP = re.compile(r"\[(\d{1,3}(?:, \d{1,3}){3,})(\]|,?$)")
_SHOWN_BYTES = 48


def readable(text: str) -> str:
    """`text` with every dump of bytes (`[71, 80, 76, 88]`) as text: quoted when it is mostly
    ASCII (`"GPLX"`), else hex, at most 48 bytes of it, and its length."""

    def shown(match: re.Match[str]) -> str:
        values = [int(v) for v in match[1].split(", ")]
        if max(values) > 255:
            return match[0]
        data, cut = bytes(values), match[2] != "]"
        printable = sum(32 <= b < 127 for b in data) * 4 >= len(data) * 3
        body = _quoted(data[:_SHOWN_BYTES]) if printable else data[:_SHOWN_BYTES].hex(" ")
        more = "..." if cut or len(data) > _SHOWN_BYTES else ""
        return f"{body}{more} ({len(data)}{' or more' if cut else ''} bytes)"

    return _BYTE_DUMP.sub(shown, text)


def _quoted(data: bytes) -> str:
    return '"' + "".join(chr(b) if 32 <= b < 127 and b not in b'"\\' else f"\\x{b:02x}" for b in data) + '"'


def parse_output(stdout: str) -> tuple[list[ProgramLoad], str | None, KernelFacts]:
    """The helper's JSON lines: kernel facts, per-program results, or an object-level error."""
    loads: list[ProgramLoad] = []
    facts = KernelFacts()
    for line in stdout.splitlines():
        if not line.startswith("{"):
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue  # a line cut short by the helper's death: the death is the verdict
        if "kernel" in data:
            lsms = data["kernel"].get("lsms")
            facts = KernelFacts(data["kernel"].get("bpffs"), tuple(lsms.split(",")) if lsms else None)
            continue
        if "object_error" in data:
            return loads, readable(str(data["object_error"])), facts
        loads.append(
            ProgramLoad(
                name=data["name"],
                type=data["type"],
                ok=bool(data["ok"]),
                error=readable(str(data["error"])) if data.get("error") is not None else None,
                verifier_log=data.get("verifier_log"),
                translated_insns=data.get("translated_insns"),
                verified_insns=data.get("verified_insns"),
                jited_bytes=data.get("jited_bytes"),
                errno=data.get("errno"),
                needs=data.get("needs"),
                status="verified" if data["ok"] else "rejected",
            )
        )
    return loads, None, facts


# the helper prints a panic as a verdict line; a backtrace must not reach it whatever the
# user's environment says (its own panic hook prints nothing either)
_QUIET = {"RUST_BACKTRACE": "0", "RUST_LIB_BACKTRACE": "0"}
_RUST_PANIC_EXIT = 101


def helper_death(returncode: int, stderr: str) -> str:
    """One line for a helper that died without a verdict: how it died and its first words.

    Never the whole stderr: a Rust panic or abort may print a backtrace or the bytes it choked on.
    """
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    # a panic's message follows "thread 'main' panicked at FILE:LINE:COL:"; skip backtrace notes
    words = [
        line for line in lines
        if not line.startswith(("thread '", "note:", "stack backtrace:", "at ")) and not line[:1].isdigit()
    ]  # fmt: skip
    said = f": {readable(words[0][:200])}" if words else ""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"the verifier helper was killed by {name} before it gave a verdict{said}"
    if returncode == _RUST_PANIC_EXIT:
        return f"the verifier helper panicked on this object{said}"
    return f"the verifier helper exited with {returncode} without a verdict{said}"


def parse_object(binary: Path, obj: Path) -> str | None:
    """Why Aya's loader refuses `obj` before the kernel sees it, or None (`--parse-only`, no root)."""
    done = run([binary, "--parse-only", str(obj)], echo=False, stream=False, check=False, timeout=60,
               env_set=_QUIET)  # fmt: skip
    for line in done.stdout.splitlines():
        try:
            data = json.loads(line)
        except json.JSONDecodeError:
            continue
        if "parsed" in data:
            return None
        if "object_error" in data:
            return readable(str(data["object_error"]))
    return helper_death(done.returncode, done.stderr)


@dataclass(frozen=True)
class ObjectLoad:
    """The helper's verdicts on one object."""

    programs: list[ProgramLoad]
    error: str | None = None  # Aya or the kernel refused the object itself
    not_verified: str | None = None  # nothing could be judged here, and why


def load_object(
    binary: Path, obj: Path, sections: dict[str, str], extra_targets: dict[str, str] | None = None
) -> ObjectLoad:
    """Load every program of `obj` with the helper; the kernel keeps nothing afterwards.

    `extra_targets` (FUNCTION -> TARGET, from the command line) win over section names.
    """
    targets = [*attach_targets(sections), *(f"{k}={v}" for k, v in (extra_targets or {}).items())]
    argv: list[str | os.PathLike[str]] = [binary, str(obj), *targets]
    done = run(argv, echo=False, stream=False, check=False, timeout=300, env_set=_QUIET)
    loads, object_error, facts = parse_output(done.stdout)
    if object_error is None and not loads and done.returncode != 0:
        object_error = helper_death(done.returncode, done.stderr)
    if object_error is not None and "requested pinning" in object_error and facts.bpffs != "private":
        # Aya pins under /sys/fs/bpf; the helper could not mount a private bpffs there
        return ObjectLoad([], None, (
            f"{object_error}: no bpffs is mounted at /sys/fs/bpf and the helper may not mount a "
            "private one (needs CAP_SYS_ADMIN); run as root, or `mount -t bpf bpf /sys/fs/bpf`"
        ))  # fmt: skip
    caps = kernel.effective_capabilities()
    return ObjectLoad([judge(load, facts, caps) for load in loads], object_error)
