"""`check.run`: the check pipeline the CLI calls, and the `fatal` flag on every finding."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildbpf.errors import ConfigError, KernelError
from buildbpf.objects import attach, check, gate, verifier
from buildbpf.objects.check import CheckInput, CheckOptions
from buildbpf.objects.elf import parse
from buildbpf.objects.facts import read_facts
from buildbpf.objects.report import ObjectReport
from tests.unit.fakes import bpf_object


@pytest.fixture
def obj(tmp_path: Path) -> Path:
    path = tmp_path / "probe.o"
    path.write_bytes(bpf_object(btf=False))
    return path


def test_run_takes_paths_and_judges_btf_as_asked(obj: Path) -> None:
    [named] = check.run([obj], CheckOptions(attach_targets=False))
    assert named.ok and named.programs[0].function == "xdp_pass"
    assert any(n.startswith("no .BTF section (not required: the object was named") for n in named.notes)
    [required] = check.run([CheckInput(obj, True, "crate x: btf = true")], CheckOptions(attach_targets=False))
    assert required.problems == ["no .BTF section although BTF is on"] and not required.ok
    [lifted] = check.run([CheckInput(obj, True)], CheckOptions(btf_required=False, attach_targets=False))
    assert lifted.ok and any("(not required: --no-btf)" in n for n in lifted.notes)


@pytest.mark.parametrize("found", [False, None, True])
def test_attach_verdicts_are_never_fatal(
    obj: Path, monkeypatch: pytest.MonkeyPatch, found: bool | None
) -> None:
    # a target this kernel lacks may exist on the one the object is built for, and neither Aya's
    # loader nor the verifier reads it: a warning (`check --kernel` judges other kernels)
    def verdict(section: str) -> attach.Verdict:
        return attach.Verdict(section, "kprobe", "gone", found, "not in /proc/kallsyms", ("here",))

    monkeypatch.setattr(attach, "check_section", verdict)
    [report] = check.run([obj])
    assert len(report.attach) == 1
    if found:
        assert report.findings == [] and report.ok
        return
    [finding] = report.findings
    assert not finding.fatal and report.ok and finding.what in report.warnings
    assert "kprobe 'gone'" in finding.what
    if found is False:
        assert "not in /proc/kallsyms on this kernel; did you mean here?" in finding.what
        assert "own name" not in finding.what  # the object's program is xdp_pass


def test_a_section_named_after_its_program_is_said_to_be_so(
    obj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def verdict(section: str) -> attach.Verdict:
        return attach.Verdict(section, "kprobe", "xdp_pass", False, "not in /proc/kallsyms")

    monkeypatch.setattr(attach, "check_section", verdict)
    [report] = check.run([obj])
    assert report.warnings == [
        "attach target kprobe 'xdp_pass': not in /proc/kallsyms on this kernel" + check.OWN_NAME
    ]


def test_an_aya_bpf_crate_s_sections_are_not_looked_up(obj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def never(section: str) -> attach.Verdict:
        raise AssertionError(f"looked up {section}")

    monkeypatch.setattr(attach, "check_section", never)
    [report] = check.run([CheckInput(obj, sections_name_programs=True)])
    assert report.attach == [] and report.findings == []
    assert check.OLD_MACROS in report.notes
    assert report.as_json()["sections_name_programs"] is True


def test_load_without_privilege_stops_before_building_the_helper(
    obj: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse() -> None:
        raise KernelError("no privilege", fix="sudo")

    def never(rust: object) -> Path:
        raise AssertionError("the helper must not be built")

    monkeypatch.setattr(verifier, "require_privilege", refuse)
    monkeypatch.setattr(verifier, "loader_binary", never)
    with pytest.raises(KernelError):
        check.run([obj], CheckOptions(attach_targets=False, load=True))


def test_load_verdicts_become_findings(obj: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loads = [
        verifier.ProgramLoad("xdp_pass", "Xdp", False, error="R0 !read_ok", status="rejected"),
        verifier.ProgramLoad("other", "Lsm", False, status="not verified", reason="BPF LSM inactive"),
    ]
    monkeypatch.setattr(verifier, "require_privilege", lambda: None)
    monkeypatch.setattr(
        verifier, "load_object", lambda *args: verifier.ObjectLoad(loads, None, "no bpffs")
    )
    monkeypatch.setattr(verifier, "loader_binary", lambda rust: Path("/nonexistent/helper"))
    [report] = check.run([obj], CheckOptions(attach_targets=False, load=True, extra_targets={"f": "t"}))
    assert report.problems == ["load: program xdp_pass rejected: R0 !read_ok"]
    assert report.warnings == [
        "load: not verified here: no bpffs",
        "load: program other not verified here: BPF LSM inactive",
    ]
    assert not report.ok


def test_attach_target_arguments() -> None:
    assert check.parse_attach_targets(["f=do_unlinkat", "g=a=b"]) == {"f": "do_unlinkat", "g": "a=b"}
    with pytest.raises(ConfigError, match="is not FUNCTION=TARGET"):
        check.parse_attach_targets(["nothing"])


def test_json_keeps_problems_and_warnings_as_strings_in_their_place() -> None:
    report = ObjectReport("x")
    report.warn("w")
    report.problem("p")
    data = report.as_json()
    assert (data["problems"], data["warnings"], data["ok"]) == (["p"], ["w"], False)
    keys = list(data)
    assert keys[keys.index("helpers") + 1 : keys.index("notes")] == ["problems", "warnings"]
    assert "findings" not in data
    json.dumps(data)


def test_gate_and_report_read_one_set_of_facts(obj: Path) -> None:
    inspection = gate.inspect(obj, btf=False)
    assert inspection.facts is not None and inspection.object is not None
    assert inspection.programs == inspection.facts.program_sections == ["xdp"]
    assert inspection.facts == read_facts(parse(obj.read_bytes()))
    assert inspection.ok and all(p.fatal for p in gate.inspect(obj, btf=True).problems)


def test_a_refused_license_is_told_by_its_section_not_its_message(tmp_path: Path) -> None:
    data = bytearray(bpf_object(btf=False))
    at = data.index(b"GPL\0")
    data[at + 3] = ord("X")  # no NUL left in the license section
    path = tmp_path / "bad-license.o"
    path.write_bytes(bytes(data))
    inspection = gate.inspect(path, btf=False, edition="2024")
    assert inspection.object is not None and inspection.object.refused_section == "license"
    [problem] = inspection.problems
    assert problem.what.startswith("corrupt ELF: invalid license") and problem.fatal
    assert "unsafe(link_section" in problem.fix
