"""Verifier rejections at the source line: the object's line info, and GitHub annotations."""

from __future__ import annotations

from pathlib import Path

from buildbpf.cli.render import github_annotations, judged_line
from buildbpf.kernels import matrix
from buildbpf.objects.lineinfo import SourceLine, failing_instruction, locate
from buildbpf.objects.report import ObjectReport
from buildbpf.objects.verifier import ProgramLoad

MAIN = "/ws/probe-ebpf/src/main.rs"
TABLE = {"xdp_firewall": [
    (0, SourceLine(MAIN, 21, 25)),
    (1, SourceLine("/usr/lib/rustlib/src/rust/library/core/src/ptr/mod.rs", 2095, 9)),  # read_volatile
    (3, SourceLine(MAIN, 23, 25)),
    (5, SourceLine(MAIN, 25, 2)),
]}  # fmt: skip
LOG = "func#0 @0\n0: R1=ctx() R10=fp0\n0: (61) r1 = *(u32 *)(r1 +0)\n1: (71) r0 = *(u8 *)(r1 +12)\n" \
      "invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)\nprocessed 2 insns"


def test_the_refused_instruction_is_the_last_one_the_verifier_printed() -> None:
    assert failing_instruction(LOG) == 1
    assert failing_instruction("no instructions at all") is None
    assert judged_line(LOG) == "invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)"


def test_the_users_own_line_wins_over_inlined_library_code() -> None:
    assert locate(TABLE, "xdp_firewall", 1) == SourceLine(MAIN, 21, 25)  # not core's ptr/mod.rs
    assert locate(TABLE, "xdp_firewall", 4) == SourceLine(MAIN, 23, 25)
    assert locate(TABLE, "xdp_firewall", None) is None and locate(TABLE, "other", 1) is None
    assert SourceLine(MAIN, 23, 25).shown(Path("/ws/probe-ebpf")) == "src/main.rs:23:25"
    assert SourceLine(MAIN, 23, 0).shown(Path("/elsewhere")) == f"{MAIN}:23"


def test_github_annotations_at_the_source_line() -> None:
    report = ObjectReport("/ws/target/probe")
    report.loads = [ProgramLoad("xdp_firewall", "xdp", False, error="Permission denied (os error 13)",
                                verifier_log=LOG, status="rejected", source="src/main.rs:23:25")]  # fmt: skip
    report.problem("load: program xdp_firewall rejected at src/main.rs:23:25: Permission denied")
    report.problem("not a BPF object: e_machine is 62")
    cell = matrix.Cell("fail", reason="helper 208 does not exist before 6.1, 50%", source="src/main.rs:30:9")
    row = matrix.Row("probe", "xdp_tai", "xdp", {"5.10": cell})
    table = matrix.Matrix([matrix.Column("5.10", "5.10.0-46")], [row])
    assert github_annotations([report], table) == [
        "::error file=/ws/target/probe,title=buildbpf%3A eBPF object rejected::"
        "not a BPF object: e_machine is 62",
        "::error file=src/main.rs,line=23,col=25,title=buildbpf%3A xdp_firewall rejected by the verifier::"
        "invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)",
        "::error file=src/main.rs,line=30,col=9,title=buildbpf%3A xdp_tai fail on Linux 5.10::"
        "helper 208 does not exist before 6.1, 50%25",
    ]
