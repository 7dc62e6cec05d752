"""The one section table: program types, what Aya accepts, load-time targets, syscall wrappers."""

from __future__ import annotations

import pytest

from buildbpf.objects import sections
from buildbpf.objects.sections import aya_accepts, load_target, section_program_type


def test_program_types_from_sections() -> None:
    assert section_program_type("xdp") == "xdp"
    assert section_program_type("kprobe/do_unlinkat") == "kprobe"
    assert section_program_type("kretprobe/x") == "kretprobe"
    assert section_program_type("tracepoint/syscalls/sys_enter_connect") == "tracepoint"
    assert section_program_type("tp_btf/sched_process_exec") == "tracing (tp_btf)"
    assert section_program_type("classifier") == "sched_cls"
    assert section_program_type("cgroup/getsockopt") == "cgroup_sockopt"
    assert section_program_type(".text") == "unknown"


@pytest.mark.parametrize(
    ("section", "kind"),
    [("cgroup/skb", "cgroup_skb"), ("cgroup/sock", "cgroup_sock"), ("cgroup/sock_create", "cgroup"),
     ("cgroup/connect4", "cgroup"), ("xdp.frags", "xdp"), ("fentry.s/x", "tracing (fentry)"),
     ("uprobe.s/lib:f", "uprobe"), ("lsm_cgroup/x", "unknown"), ("tc", "sched_cls"), ("xdpx", "unknown")],
)  # fmt: skip
def test_specific_prefixes_win_and_a_dot_extends_a_kind(section: str, kind: str) -> None:
    assert section_program_type(section) == kind


@pytest.mark.parametrize(
    ("section", "accepted"),
    [("xdp", True), ("xdp/devmap", True), ("xdp/other", False), ("xdp.frags/cpumap", True),
     ("kprobe/x", True), ("kprobe", True), ("sk_skb", False), ("sk_skb/stream_parser", True),
     ("cgroup_skb/ingress", True), ("cgroup_skb", False), ("cgroup/connect4", True), ("cgroup/nope", False),
     ("sk_reuseport", True), ("sk_reuseport/migrate", True), ("sk_reuseport/x", False),
     ("tc", False), ("fmod_ret/x", False), ("syscall", False), ("nothing", False)],
)  # fmt: skip
def test_aya_accepts_what_program_section_from_str_accepts(section: str, accepted: bool) -> None:
    assert aya_accepts(section) is accepted


@pytest.mark.parametrize(
    ("section", "accepted"),
    [("xdp/myapp", True), ("xdp", True), ("classifier/tc_prog", True), ("kprobe/fs_probe", True),
     ("tp/sched_exec", True), ("tracepoint/syscalls/sys_enter_kill", True), ("sk_skb/stream_parser/p", True),
     ("sk_skb/stream_parser", True), ("sk_skb/other", False), ("cgroup_skb/ingress/p", True),
     ("cgroup/skb/p", True), ("cgroup/connect4/p", True), ("cgroup/nope", False), ("sockops/p", True),
     ("lsm/file_open", True), ("tp_btf/sched_switch", True), ("sk_reuseport", False), ("nothing/x", False)],
)  # fmt: skip
def test_aya_before_0_12_took_the_last_piece_for_the_program_name(section: str, accepted: bool) -> None:
    # aya 0.11's ProgramSection::from_str: KIND/NAME split at the last `/` (the old template's
    # `#[xdp(name = "myapp")]` is `xdp/myapp`)
    assert aya_accepts(section, before_0_12=True) is accepted


def test_the_old_template_s_xdp_section_is_refused_by_today_s_aya_only() -> None:
    assert not aya_accepts("xdp/myapp") and aya_accepts("xdp/myapp", before_0_12=True)


def test_load_targets_are_the_rest_after_a_btf_kind() -> None:
    assert load_target("fentry/do_unlinkat") == "do_unlinkat"
    assert load_target("lsm.s/file_open") == "file_open"
    assert load_target("tp_btf/a/b") == "a/b"
    assert load_target("fentry/") is None
    assert load_target("fentry") is None
    assert load_target("kprobe/do_unlinkat") is None
    assert load_target("fentryx/y") is None


def test_one_list_of_syscall_wrappers() -> None:
    assert sections.syscall_wrapper("x86_64") == "__x64_sys_"
    assert sections.syscall_wrapper("aarch64") == sections.syscall_wrapper("arm64") == "__arm64_sys_"
    assert sections.syscall_wrapper("mips") is None
    assert sections.SYSCALL_PREFIXES[:4] == ("__x64_sys_", "__arm64_sys_", "__riscv_sys_", "__s390x_sys_")


def test_section_names_cover_every_kind_and_the_data_sections() -> None:
    assert {"xdp", "classifier", "socket", "sockops", "sk_skb", "tc", "cgroup", "maps", "license"} <= (
        sections.SECTION_NAMES
    )
    assert "my_probe" not in sections.SECTION_NAMES


def test_every_attach_kind_and_capability_class_is_known() -> None:
    kinds = {k.attach for k in sections.SECTION_KINDS.values()}
    assert kinds == {None, sections.KALLSYMS, sections.KERNEL_BTF, sections.TRACEFS, sections.BINARY}
    assert not sections.NET_ADMIN_TYPES & sections.PERFMON_TYPES
