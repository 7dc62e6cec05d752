"""Attach targets against the running kernel's own tables."""

from __future__ import annotations

import platform

from buildbpf.objects import attach, kernel
from tests.support import skip_or_fail


def test_syscall_wrapper_suggestion_on_this_kernel() -> None:
    if platform.machine() != "x86_64":
        skip_or_fail("the expected wrapper name below is x86_64's")
    if not attach.kallsyms():
        skip_or_fail("/proc/kallsyms is not readable")
    result = attach.check_section("kprobe/sys_connect")
    assert result is not None
    assert result.found is False
    assert "__x64_sys_connect" in result.suggestions
    assert "tracepoint syscalls/sys_enter_connect" in result.suggestions
    ok = attach.check_section("kprobe/__x64_sys_connect")
    assert ok is not None
    assert ok.found is True


def test_kernel_btf_functions() -> None:
    if not kernel.has_vmlinux_btf():
        skip_or_fail("no /sys/kernel/btf/vmlinux")
    ok = attach.check_section("fentry/do_unlinkat")
    assert ok is not None
    assert ok.found is True
    typo = attach.check_section("fentry/do_unlinkatt")
    assert typo is not None
    assert typo.found is False
    assert "do_unlinkat" in typo.suggestions
