"""`check --load` verdicts: only the kernel's judgement of the program rejects it."""

from __future__ import annotations

import json

import pytest

from buildbpf.objects.kernel import CAP_BPF, CAP_PERFMON, CAP_SYS_ADMIN
from buildbpf.objects.verifier import CAP_NET_ADMIN, KernelFacts, ProgramLoad, judge

ALL = (1 << 41) - 1
ROOTLESS = 1 << CAP_BPF | 1 << CAP_NET_ADMIN  # CAP_BPF, CAP_NET_ADMIN; no PERFMON, no SYS_ADMIN
BPF_ACTIVE = KernelFacts("private", ("lockdown", "capability", "bpf"))
BPF_INACTIVE = KernelFacts("private", ("lockdown", "capability", "selinux"))


def refused(kind: str, errno: int | None = 1, log: str = "") -> ProgramLoad:
    return ProgramLoad(name="p", type=kind, ok=False, error="Operation not permitted (os error 1)",
                       verifier_log=log, errno=errno, status="rejected")  # fmt: skip


def test_verified_stays_verified() -> None:
    load = ProgramLoad(name="p", type="Xdp", ok=True, translated_insns=3)
    assert judge(load, BPF_ACTIVE, ALL).status == "verified"


def test_a_missing_target_is_not_a_rejection() -> None:
    load = ProgramLoad(name="traced", type="Tracing", ok=False, needs="target",
                       error="fentry names no attach target", status="rejected")  # fmt: skip
    verdict = judge(load, BPF_ACTIVE, ALL)
    assert verdict.status == "not verified"
    assert "--attach-target traced=FUNCTION" in (verdict.reason or "")


def test_the_verifier_saying_no_is_a_rejection() -> None:
    load = refused("Xdp", errno=13, log="0: R1=ctx\ninvalid access to packet")
    assert judge(load, BPF_ACTIVE, ALL).status == "rejected"
    # EPERM with a verifier log is the verifier's own verdict (e.g. a privileged helper)
    assert judge(refused("Xdp", log="R1 pointer arithmetic prohibited"), BPF_ACTIVE, ALL).status == "rejected"


def test_lsm_refused_before_verification_names_the_inactive_bpf_lsm() -> None:
    verdict = judge(refused("Lsm(Mac)"), BPF_INACTIVE, ALL)
    assert verdict.status == "not verified"
    assert "BPF LSM is not active" in (verdict.reason or "")
    assert "lockdown,capability,selinux" in (verdict.reason or "")


@pytest.mark.parametrize(
    ("kind", "caps", "missing"),
    [("Tracing", ROOTLESS, "CAP_PERFMON"), ("Lsm(Mac)", ROOTLESS, "CAP_PERFMON"),
     ("Xdp", 1 << CAP_BPF | 1 << CAP_PERFMON, "CAP_NET_ADMIN")],
)  # fmt: skip
def test_a_missing_capability_is_named(kind: str, caps: int, missing: str) -> None:
    verdict = judge(refused(kind), BPF_ACTIVE, caps)
    assert verdict.status == "not verified"
    assert missing in (verdict.reason or "")


def test_sys_admin_covers_perfmon() -> None:
    reason = judge(refused("Tracing"), BPF_ACTIVE, 1 << CAP_SYS_ADMIN).reason or ""
    assert "CAP_PERFMON" not in reason
    assert "security policy" in reason


def test_policy_refusal_with_every_capability() -> None:
    verdict = judge(refused("Lsm(Mac)"), BPF_ACTIVE, ALL)
    assert verdict.status == "not verified"
    assert "refuses Lsm programs before verifying them" in (verdict.reason or "")


PANIC_STDERR = """thread 'main' panicked at src/btf/btf.rs:1001:20:
range end index 57 out of range for slice of length 24
stack backtrace:
   0: rust_begin_unwind
             at /rustc/abc/library/std/src/panicking.rs:665:5
note: Some details are omitted, run with `RUST_BACKTRACE=full` for a verbose backtrace.
"""


def test_a_helper_that_panics_is_one_verdict_line() -> None:
    from buildbpf.objects.verifier import helper_death

    said = helper_death(101, PANIC_STDERR)
    assert said == (
        "the verifier helper panicked on this object: range end index 57 out of range for slice of length 24"
    )
    assert "\n" not in said and "backtrace" not in said


def test_a_helper_killed_or_aborted_is_one_verdict_line() -> None:
    from buildbpf.objects.verifier import helper_death

    aborted = helper_death(-6, "memory allocation of 4294967296 bytes failed\n")
    assert aborted == (
        "the verifier helper was killed by SIGABRT before it gave a verdict: "
        "memory allocation of 4294967296 bytes failed"
    )
    dump = "error: " + "[1, 2, 3, 4, " * 500 + "]\n" + "more\n" * 100
    assert len(helper_death(3, dump)) < 300  # never the bytes it choked on
    assert helper_death(-9, "") == "the verifier helper was killed by SIGKILL before it gave a verdict"


def test_a_json_line_cut_short_is_not_a_traceback() -> None:
    from buildbpf.objects.verifier import parse_output

    loads, error, _ = parse_output('{"kernel": {"bpffs": "private", "lsms": null}}\n{"name": "x", "ty')
    assert (loads, error) == ([], None)


# Aya prints some bytes it refuses with {:?}: a license without its NUL, a name with one inside
LICENSE = "error parsing BPF object: invalid license `[71, 80, 76, 88]`: missing NULL terminator"
NUL_PANIC = (
    "Aya's loader panicked on this object: called `Result::unwrap()` on an `Err` value: "
    "NulError(3, [102, 111, 111, 0, 98, 97, 114])"
)


def test_a_byte_dump_in_an_object_error_is_text() -> None:
    from buildbpf.objects.verifier import parse_output

    _, error, _ = parse_output(json.dumps({"object_error": LICENSE}))
    assert error == 'error parsing BPF object: invalid license `"GPLX" (4 bytes)`: missing NULL terminator'


def test_a_byte_dump_in_a_panic_is_text_on_the_host_and_in_a_guest() -> None:
    from buildbpf.kernels import matrix
    from buildbpf.objects.verifier import parse_output

    line = json.dumps({"name": "x", "type": "Xdp", "ok": False, "error": NUL_PANIC})
    [load], _, _ = parse_output(line)
    assert load.error is not None and load.error.endswith('NulError(3, "foo\\x00bar" (7 bytes))')
    result = matrix.Matrix()
    guest = ['{"object": "/buildbpf/objects/0.o"}', line]
    matrix.add_kernel(result, matrix.Column("6.1", "6.1.0-57"), guest, {"/buildbpf/objects/0.o": "o"})
    assert result.rows and "[102, 111" not in repr(result.as_json())


def test_binary_bytes_are_hex_and_a_dump_cut_short_says_so() -> None:
    from buildbpf.objects.verifier import helper_death, readable

    elf = "[" + ", ".join(str(b) for b in b"\x7fELF\x02\x01\x01" + bytes(60)) + "]"
    assert (
        readable(f"bad header {elf}") == "bad header 7f 45 4c 46 02 01 01 " + "00 " * 40 + "00... (67 bytes)"
    )
    cut = readable("panicked: data [1, 2, 3, 4, 5, 6, 12")
    assert cut == "panicked: data 01 02 03 04 05 06 0c... (7 or more bytes)"
    for kept in ("slice of length 24", "two [1, 2]", "not bytes [1000, 2, 3, 4]"):
        assert readable(kept) == kept
    died = "thread 'main' panicked at src/main.rs:1:1:\ninvalid license `[71, 80, 76, 88]`\n"
    assert helper_death(101, died).endswith('invalid license `"GPLX" (4 bytes)`')
