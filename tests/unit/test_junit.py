"""`check --junit`: the results as JUnit XML a CI system reads."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from buildbpf.cli.junit import document
from buildbpf.kernels import matrix
from buildbpf.objects.report import ObjectReport
from buildbpf.objects.verifier import ProgramLoad


def _table(strict: bool = False) -> matrix.Matrix:
    ok = matrix.Cell("pass", insns=7)
    refused = matrix.Cell("fail", reason="helper 208 does not exist before 6.1",
                          log_tail=["0: (85) call unknown#208"])  # fmt: skip
    columns = [matrix.Column("5.10", "5.10.0-46", release="5.10.262"), matrix.Column("6.1", "6.1.0-57"),
               matrix.Column("latest", "7.3.4", error="the guest hung")]  # fmt: skip
    unjudged = matrix.Cell("not verified", reason="no bpf in lsm=")
    rows = [matrix.Row("probe.o", "xdp_tai", "xdp", {"5.10": refused, "6.1": ok}),
            matrix.Row("probe.o", "lsm_hook", "lsm", {"5.10": unjudged, "6.1": ok})]
    layouts = [matrix.LayoutRow("probe.o", ["task_struct"], {
        "5.10": matrix.LayoutCell("differs", ["task_struct.pid: byte 2416 here, 2232 on 5.10"]),
        "6.1": matrix.LayoutCell("same")})]  # fmt: skip
    return matrix.Matrix(columns, rows, layouts=layouts, strict_layout=strict)


def _report() -> ObjectReport:
    report = ObjectReport("/ws/target/buildbpf/bpfel-unknown-none/probe.o")
    report.warn("BTF: type [2] ENUM c_void")
    report.loads = [
        ProgramLoad("xdp_tai", "xdp", True),
        ProgramLoad("xdp_unchecked", "xdp", False, error="invalid access to packet", status="rejected",
                    verifier_log="0: r2 = *(u32 *)(r1 +0)\ninvalid access to packet"),
        ProgramLoad("fentry_x", "fentry", False, status="not verified", reason="needs an attach target"),
    ]
    return report


def test_one_suite_per_kernel_and_a_case_per_program() -> None:
    root = ET.fromstring(document([_report()], _table()))
    suites = root.findall("testsuite")
    assert [s.get("name") for s in suites][1:] == ["Linux 5.10.262 (5.10)", "Linux 6.1.0-57 (6.1)",
                                                   "Linux 7.3.4 (latest)"]  # fmt: skip
    this, old, new, broken = suites
    assert (this.get("tests"), this.get("failures"), this.get("skipped")) == ("4", "1", "1")
    rejected = this.find("testcase[@name='xdp_unchecked']/failure")
    assert rejected is not None and rejected.get("message") == "invalid access to packet"
    assert "invalid access to packet" in (rejected.text or "")
    assert (old.get("tests"), old.get("failures"), old.get("skipped")) == ("3", "1", "1")
    failure = old.find("testcase[@name='xdp_tai']/failure")
    assert failure is not None and "helper 208" in (failure.get("message") or "")
    assert "call unknown#208" in (failure.text or "")
    assert new.get("failures") == "0" and new.get("tests") == "3"
    assert broken.get("errors") == "2"  # no verdict from that kernel: an error, not a failure
    assert root.get("tests") == "12" and root.get("failures") == "2" and root.get("errors") == "2"


def test_a_layout_that_differs_fails_only_when_strict() -> None:
    warn = ET.fromstring(document([], _table()))
    case = warn.find("testsuite[@name='Linux 5.10.262 (5.10)']/testcase[@name='kernel struct layout']")
    assert case is not None and case.find("failure") is None
    assert "task_struct.pid" in (case.findtext("system-out") or "")
    strict = ET.fromstring(document([], _table(strict=True)))
    where = "testsuite[@name='Linux 5.10.262 (5.10)']/testcase[@name='kernel struct layout']/failure"
    failed = strict.find(where)
    assert failed is not None and "task_struct.pid: byte 2416 here" in (failed.get("message") or "")
