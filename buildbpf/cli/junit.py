"""`check --junit FILE`: the check as JUnit XML, for CI systems that list test results.

One test suite per kernel asked (this kernel for the gate and `--load`, then each `--kernel`),
one test case per object and program there: a verifier rejection or a program that cannot
attach is a failure with the verifier's reason and last log lines, a program no verifier
judged is skipped with why, a kernel that gave no verdict is an error. Kernel struct layouts
that differ are failures with `--strict-layout`, otherwise passing cases that say so.
"""

from __future__ import annotations

import platform
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from buildbpf.kernels.matrix import Matrix
    from buildbpf.objects.report import ObjectReport


class _Suite:
    def __init__(self, parent: ET.Element, name: str) -> None:
        self.element = ET.SubElement(parent, "testsuite", name=name)
        self.counts = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}

    def case(self, classname: str, name: str, *, failure: str | None = None, details: str = "",
             skipped: str | None = None, error: str | None = None, output: str = "") -> None:  # fmt: skip
        case = ET.SubElement(self.element, "testcase", classname=classname, name=name)
        self.counts["tests"] += 1
        if failure is not None:
            ET.SubElement(case, "failure", message=failure).text = details or failure
            self.counts["failures"] += 1
        elif error is not None:
            ET.SubElement(case, "error", message=error).text = details or error
            self.counts["errors"] += 1
        elif skipped is not None:
            ET.SubElement(case, "skipped", message=skipped)
            self.counts["skipped"] += 1
        if output:
            ET.SubElement(case, "system-out").text = output

    def close(self) -> None:
        for key, value in self.counts.items():
            self.element.set(key, str(value))


def _this_kernel(parent: ET.Element, reports: Sequence[ObjectReport]) -> None:
    suite = _Suite(parent, f"this kernel (Linux {platform.release()})")
    for report in reports:
        name = Path(report.path).name
        problems = report.problems
        suite.case(name, "gate and check", failure="; ".join(problems) if problems else None,
                   output="\n".join(f"warning: {w}" for w in report.warnings))  # fmt: skip
        for load in report.loads:
            tail = "\n".join((load.verifier_log or "").splitlines()[-15:])
            if load.status == "rejected":
                suite.case(name, load.name, failure=load.error or "rejected by the verifier", details=tail)
            elif load.status == "not verified":
                suite.case(name, load.name, skipped=load.reason or "not verified here")
            else:
                suite.case(name, load.name)
    suite.close()


def _kernel_suites(parent: ET.Element, matrix: Matrix) -> None:
    for column in matrix.columns:
        release = column.release or column.name
        suite = _Suite(parent, f"Linux {release} ({column.request})")
        for row in matrix.rows:
            cell = row.cells.get(column.request)
            name = row.program
            if column.error:
                suite.case(row.object, name, error=f"no verdict from this kernel: {column.error}",
                           details=column.console or "")  # fmt: skip
            elif cell is None or not column.booted:
                suite.case(row.object, name, skipped="this kernel was not asked")
            elif cell.status == "pass":
                counted = f"{cell.insns} instructions" if cell.insns is not None else ""
                suite.case(row.object, name, output=counted)
            elif cell.status in ("fail", "cannot attach"):
                reason = f"{cell.status}: {cell.reason or cell.error or cell.status}"
                suite.case(row.object, name, failure=reason, details="\n".join(cell.log_tail))
            else:
                suite.case(row.object, name, skipped=cell.reason or cell.status)
        for layout in matrix.layouts:
            found = layout.cells.get(column.request)
            if found is None:
                continue
            listed, what = "\n".join(found.differences), "kernel struct layout"
            if found.status == "differs" and matrix.strict_layout:
                failure = "differs: " + "; ".join(found.differences)
                suite.case(layout.object, what, failure=failure, details=listed)
            elif found.status == "unknown":
                suite.case(layout.object, what, skipped=found.reason or "not compared")
            else:
                suite.case(layout.object, what, output=f"{found.status}\n{listed}".strip())
        suite.close()


def document(reports: Sequence[ObjectReport], matrix: Matrix | None) -> bytes:
    """The JUnit XML of a check: this kernel's suite, then one per kernel of the matrix."""
    root = ET.Element("testsuites", name="buildbpf check")
    _this_kernel(root, reports)
    if matrix is not None:
        _kernel_suites(root, matrix)
    totals: dict[str, int] = {}
    for suite in root:
        for key in ("tests", "failures", "errors", "skipped"):
            totals[key] = totals.get(key, 0) + int(suite.get(key, "0"))
    for key, value in totals.items():
        root.set(key, str(value))
    ET.indent(root)
    data: Any = ET.tostring(root, encoding="utf-8", xml_declaration=True)
    return bytes(data) + b"\n"
