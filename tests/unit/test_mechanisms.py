"""Attach mechanisms from captured kernel evidence (kallsyms, configs, PMUs, tracefs, LSMs)."""

from __future__ import annotations

import errno

import pytest

from buildbpf.cli import render
from buildbpf.objects import check, kernel, mechanisms, sections
from buildbpf.objects.attach import Verdict
from buildbpf.objects.facts import ObjectProgram
from buildbpf.objects.mechanisms import Evidence, Mechanism
from buildbpf.objects.report import ObjectReport

# a kernel like ours: CONFIG_KPROBES off, uprobes on, BPF LSM built in
CONFIG = """\
CONFIG_BPF_SYSCALL=y
CONFIG_BPF_JIT=y
CONFIG_BPF_LSM=y
CONFIG_CGROUP_BPF=y
CONFIG_PERF_EVENTS=y
CONFIG_TRACEPOINTS=y
CONFIG_TRACING=y
# CONFIG_KPROBES is not set
CONFIG_UPROBES=y
CONFIG_UPROBE_EVENTS=y
CONFIG_BPF_EVENTS=y
CONFIG_NET=y
CONFIG_NET_XGRESS=y
# CONFIG_NET_CLS_BPF is not set
CONFIG_LSM="landlock,lockdown,yama,bpf"
"""

KALLSYMS = """\
0000000000000000 T arch_prepare_bpf_trampoline
0000000000000000 T tracepoint_probe_register
0000000000000000 T tracefs_create_file
0000000000000000 T perf_event_attach_bpf_prog
0000000000000000 T uprobe_register
0000000000000000 T create_local_trace_uprobe
0000000000000000 T bpf_probe_register
0000000000000000 T bpf_lsm_file_open
0000000000000000 t __cgroup_bpf_attach
0000000000000000 T tcx_prog_attach
0000000000000000 T bpf_xdp_link_attach
0000000000000000 T perf_event_create_kernel_counter
0000000000000000 t cls_bpf_classify\t[cls_bpf]
0000000000000000 T unrelated_function
"""
BTF = mechanisms.VMLINUX_BTF


def symbols(text: str = KALLSYMS) -> dict[str, str]:
    return mechanisms.parse_kallsyms(text, mechanisms.wanted_symbols())


def verdicts(**changes: object) -> dict[str, Mechanism]:
    base: dict[str, object] = {"paths": frozenset({BTF}), "config": None, "symbols": None}
    return mechanisms.decide_all(Evidence(**{**base, **changes}))  # type: ignore[arg-type]


def test_config_parsing() -> None:
    config = mechanisms.parse_config(CONFIG)
    assert config["CONFIG_KPROBES"] == "n"
    assert config["CONFIG_UPROBES"] == "y"
    assert config["CONFIG_LSM"] == "landlock,lockdown,yama,bpf"


def test_kallsyms_keeps_only_the_wanted_names_with_their_type() -> None:
    found = symbols()
    assert found["arch_prepare_bpf_trampoline"] == "T"
    assert found["cls_bpf_classify"] == "t"  # a module's symbol
    assert "unrelated_function" not in found


def test_a_kernel_config_without_kprobes() -> None:
    config = mechanisms.parse_config(CONFIG)
    found = verdicts(config=config, config_source="/proc/config.gz")
    kprobe = found[sections.KPROBE]
    assert kprobe.available is False
    assert kprobe.reason == "kprobes are not enabled in this kernel (CONFIG_KPROBES)"
    assert kprobe.evidence == "CONFIG_KPROBES is not set in /proc/config.gz"
    for name in (sections.UPROBE, sections.TRACEPOINT, sections.TRAMPOLINE, sections.LSM, sections.XDP):
        assert found[name].available is True, found[name]
    # TCX (CONFIG_NET_XGRESS) attaches classifiers without cls_bpf
    assert found[sections.TC].available is True


def test_kallsyms_alone_decides_when_there_is_no_config() -> None:
    found = verdicts(symbols=symbols())
    assert found[sections.KPROBE].available is False
    assert found[sections.KPROBE].evidence == "no register_kprobe in /proc/kallsyms"
    assert found[sections.UPROBE].available is True
    assert "uprobe_register in /proc/kallsyms" in found[sections.UPROBE].evidence
    assert found[sections.CGROUP].available is True
    assert found[sections.XDP].available is True


def test_kprobe_events_missing_though_kprobes_are_there() -> None:
    found = verdicts(symbols=symbols(KALLSYMS + "0 T register_kprobe\n"))
    kprobe = found[sections.KPROBE]
    assert kprobe.available is False
    assert kprobe.reason == "kprobe events are not enabled in this kernel (CONFIG_KPROBE_EVENTS)"


def test_the_perf_pmu_proves_kprobes_without_anything_else() -> None:
    pmu = str(mechanisms.PMUS / "kprobe")
    found = verdicts(paths=frozenset({BTF, pmu}), symbols=symbols(KALLSYMS))
    assert found[sections.KPROBE].available is True
    assert pmu in found[sections.KPROBE].evidence


def test_tracefs_files_decide() -> None:
    with_file = verdicts(tracefs=frozenset({"kprobe_events", "events"}), tracefs_point="/sys/kernel/tracing")
    assert with_file[sections.KPROBE].available is None  # kprobe_events proves events; BPF_EVENTS unknown
    found = verdicts(
        tracefs=frozenset({"kprobe_events", "events"}), tracefs_point="/sys/kernel/tracing",
        symbols={"perf_event_attach_bpf_prog": "T", "register_kprobe": "T"},
    )  # fmt: skip
    assert found[sections.KPROBE].available is True
    assert "/sys/kernel/tracing/kprobe_events" in found[sections.KPROBE].evidence
    without = verdicts(tracefs=frozenset({"events"}), tracefs_point="/sys/kernel/tracing")
    assert without[sections.KPROBE].available is False
    assert without[sections.KPROBE].evidence == "no kprobe_events in /sys/kernel/tracing"


def test_missing_files_tell_nothing() -> None:
    found = verdicts(paths=frozenset())
    for verdict in found.values():
        assert verdict.available is not True, verdict
    assert found[sections.KPROBE].available is None
    assert found[sections.KPROBE].reason == "could not tell on this machine"
    # no /sys/kernel/btf/vmlinux is itself the proof that trampolines cannot attach
    assert found[sections.TRAMPOLINE].available is False
    assert "CONFIG_DEBUG_INFO_BTF" in found[sections.TRAMPOLINE].reason


def test_the_arch_trampoline_symbol_is_the_evidence() -> None:
    found = verdicts(symbols=symbols(), config=mechanisms.parse_config(CONFIG), config_source="c")
    assert found[sections.TRAMPOLINE].available is True
    assert "arch_prepare_bpf_trampoline in /proc/kallsyms" in found[sections.TRAMPOLINE].evidence


def test_an_unreadable_tracefs_is_not_called_unmounted() -> None:
    config = mechanisms.parse_config(CONFIG)
    found = verdicts(config=config, config_source="c", tracefs_point="/sys/kernel/tracing")
    assert found[sections.TRACEPOINT].note.startswith("tracefs at /sys/kernel/tracing is not readable")


def test_a_weak_trampoline_symbol_is_the_unsupported_stub() -> None:
    stub = KALLSYMS.replace("T arch_prepare_bpf_trampoline", "W arch_prepare_bpf_trampoline")
    found = verdicts(symbols=symbols(stub), config=mechanisms.parse_config(CONFIG), config_source="c")
    assert found[sections.TRAMPOLINE].available is False
    assert "generic stub" in found[sections.TRAMPOLINE].evidence


def test_bpf_lsm_built_but_not_active() -> None:
    config = mechanisms.parse_config(CONFIG)
    lsms, source = mechanisms.active_lsms(None, "quiet lsm=landlock,yama", config)
    assert (lsms, source) == (("landlock", "yama"), "lsm= on the kernel command line")
    found = verdicts(config=config, config_source="c", lsms=lsms, lsm_source=source)
    assert found[sections.LSM].available is False
    assert "BPF LSM is not active" in found[sections.LSM].reason
    # securityfs wins over everything; CONFIG_LSM is the last resort
    assert mechanisms.active_lsms("lockdown,bpf\n", "lsm=yama", config)[0] == ("lockdown", "bpf")
    assert mechanisms.active_lsms(None, "quiet", config)[0] == ("landlock", "lockdown", "yama", "bpf")
    assert mechanisms.active_lsms(None, "quiet", None) == (None, "")


def test_a_program_type_the_kernel_refuses() -> None:
    refused = kernel.LoadProbe(False, "bpf(BPF_PROG_LOAD) failed: EINVAL", errno.EINVAL)
    config = mechanisms.parse_config(CONFIG)
    found = verdicts(config=config, config_source="c", prog_loads={6: refused})
    assert found[sections.XDP].available is False
    assert found[sections.XDP].reason == "this kernel refuses BPF_PROG_TYPE_XDP programs"
    # EPERM with privilege: refused before verifying, as `check --load` reads it
    denied = kernel.LoadProbe(False, "bpf(BPF_PROG_LOAD) failed: EPERM", errno.EPERM)
    xdp = verdicts(config=config, config_source="c", prog_loads={6: denied})[sections.XDP]
    assert xdp.available is False and xdp.refused
    assert xdp.reason.startswith("this kernel refuses Xdp programs before verifying them")


# what a kernel whose lockdown (or another policy) refuses tracing and LSM programs answered:
# EPERM to a privileged BPF_PROG_LOAD, nothing in the verifier log; securityfs not mounted
LOCKED = {"lsms": None, "caps": (1 << 41) - 1, "config": mechanisms.parse_config(CONFIG),
          "config_source": "c", "symbols": None}  # fmt: skip
EPERM_PROBE = kernel.LoadProbe(False, "bpf(BPF_PROG_LOAD) failed: EPERM", errno.EPERM)


@pytest.mark.parametrize(
    ("mechanism", "prog_type", "aya_type"),
    [(sections.TRAMPOLINE, 26, "Tracing"), (sections.LSM, 29, "Lsm")],
)
def test_doctor_and_check_load_read_a_refusal_alike(mechanism: str, prog_type: int, aya_type: str) -> None:
    from buildbpf.objects.verifier import KernelFacts, ProgramLoad, judge

    symbols = {"arch_prepare_bpf_trampoline": "T", "bpf_lsm_file_open": "T"}
    verdict = verdicts(**{**LOCKED, "symbols": symbols, "prog_loads": {prog_type: EPERM_PROBE}})[mechanism]
    load = ProgramLoad(name="p", type=aya_type, ok=False, error="Operation not permitted (os error 1)",
                       errno=errno.EPERM, verifier_log="")  # fmt: skip
    said = judge(load, KernelFacts(None, None), (1 << 41) - 1)
    assert said.status == "not verified"
    assert verdict.available is False, verdict  # not `ok attach:` while check --load refuses
    assert verdict.reason == said.reason
    # a kernel that loaded the test program: available, as check --load verifies there
    loaded = kernel.LoadProbe(True, "the kernel loaded a test program")
    assert verdicts(**{**LOCKED, "symbols": symbols, "prog_loads": {prog_type: loaded}})[mechanism].available


def test_tracing_and_lsm_probes_attach_to_a_kernel_function(monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[tuple[int, int, int]] = []

    def probe(prog_type: int, attach_type: int, btf_id: int) -> kernel.LoadProbe:
        asked.append((prog_type, attach_type, btf_id))
        return EPERM_PROBE

    ids = {"bpf_fentry_test1": 101, "bpf_lsm_file_open": 202}
    monkeypatch.setattr(kernel, "function_btf_id", ids.get)
    found = mechanisms._probe_all(probe)
    assert (26, 24, 101) in asked and (29, 27, 202) in asked  # TRACING/FENTRY, LSM/LSM_MAC
    assert (6, 0, 0) in asked  # XDP needs no target
    assert found[26] == EPERM_PROBE


def test_tracefs_mount_points() -> None:
    assert mechanisms.tracefs_mount("tracefs /sys/kernel/tracing tracefs rw 0 0\n") == "/sys/kernel/tracing"
    debugfs = "debugfs /sys/kernel/debug debugfs rw 0 0\n"
    assert mechanisms.tracefs_mount(debugfs) == "/sys/kernel/debug/tracing"
    assert mechanisms.tracefs_mount("proc /proc proc rw 0 0\n") is None


def test_an_unmounted_tracefs_is_a_note_on_tracepoints() -> None:
    found = verdicts(config=mechanisms.parse_config(CONFIG), config_source="c")
    assert "tracefs is not mounted" in found[sections.TRACEPOINT].note


@pytest.mark.parametrize(
    ("section", "mechanism"),
    [("kprobe/do_unlinkat", sections.KPROBE), ("kretprobe/x", sections.KPROBE),
     ("uprobe/lib:f", sections.UPROBE), ("tp/a/b", sections.TRACEPOINT),
     ("raw_tp/x", sections.RAW_TRACEPOINT),
     ("fentry/x", sections.TRAMPOLINE), ("tp_btf/x", sections.TRAMPOLINE), ("lsm/file_open", sections.LSM),
     ("cgroup/connect4", sections.CGROUP), ("cgroup_skb/ingress", sections.CGROUP),
     ("classifier", sections.TC), ("xdp.frags", sections.XDP), ("perf_event", sections.PERF_EVENT),
     ("socket", None), ("maps", None)],
)  # fmt: skip
def test_sections_name_their_mechanism(section: str, mechanism: str | None) -> None:
    assert sections.mechanism_of(section) == mechanism


def test_every_mechanism_has_a_spec_in_the_section_tables_order() -> None:
    assert tuple(spec.name for spec in mechanisms.SPECS) == sections.MECHANISMS


def test_blocked_programs() -> None:
    found = verdicts(config=mechanisms.parse_config(CONFIG), config_source="c")
    blocked = mechanisms.blocked([("kcount", "kprobe/do_unlinkat"), ("pass", "xdp"), ("s", "socket")], found)
    assert [b.program for b in blocked] == ["kcount"]
    assert blocked[0].message == (
        "program kcount (kprobe/do_unlinkat) cannot attach on this kernel: "
        "kprobes are not enabled in this kernel (CONFIG_KPROBES)"
    )


def kprobe_report() -> ObjectReport:
    report = ObjectReport("kcount.o")
    report.programs = [ObjectProgram("kcount", "kprobe/do_unlinkat", "kprobe", 8)]
    report.attach = [Verdict("kprobe/do_unlinkat", "kprobe", "do_unlinkat", True)]
    return report


def test_check_marks_the_program_not_fatally_in_json_and_text(capsys: pytest.CaptureFixture[str]) -> None:
    report = kprobe_report()
    check.add_mechanisms(report, verdicts(config=mechanisms.parse_config(CONFIG), config_source="c"))
    assert report.ok  # an object built for another kernel is fine
    data = report.as_json()
    assert data["ok"] is True
    assert data["warnings"] == [report.cannot_attach[0].message]
    assert data["cannot_attach"] == [{
        "program": "kcount", "section": "kprobe/do_unlinkat", "mechanism": "kprobe",
        "reason": "kprobes are not enabled in this kernel (CONFIG_KPROBES)",
    }]  # fmt: skip
    render.print_report(report)
    out = capsys.readouterr().out
    assert "attach target kprobe do_unlinkat: found, but this kernel cannot attach kprobe programs" in out
    reason = "cannot attach on this kernel: kprobes are not enabled in this kernel (CONFIG_KPROBES)"
    assert out.count(reason) == 1
    assert out.startswith("ok")


def test_check_says_nothing_where_the_mechanism_is_there() -> None:
    report = kprobe_report()
    check.add_mechanisms(report, verdicts(paths=frozenset({BTF, str(mechanisms.PMUS / "kprobe")}),
                                          symbols={"perf_event_attach_bpf_prog": "T"}))  # fmt: skip
    assert report.cannot_attach == []
    assert report.findings == []


def test_a_kernel_without_tracefs_has_no_trace_events() -> None:
    config = mechanisms.parse_config(CONFIG)
    found = verdicts(config=config, config_source="c", filesystems=frozenset({"proc", "bpf"}))
    assert found[sections.TRACEPOINT].available is False
    assert "no tracefs (CONFIG_TRACING)" in found[sections.TRACEPOINT].reason
    assert found[sections.UPROBE].available is False
    assert found[sections.KPROBE].reason == "kprobes are not enabled in this kernel (CONFIG_KPROBES)"
    with_tracefs = verdicts(config=config, config_source="c", filesystems=frozenset({"tracefs"}))
    assert with_tracefs[sections.TRACEPOINT].available is True
    assert "tracefs in /proc/filesystems" in with_tracefs[sections.TRACEPOINT].evidence
