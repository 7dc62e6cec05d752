"""Parsing of /proc facts used by doctor (the real checks run in integration)."""

from __future__ import annotations

from buildbpf.objects import kernel

MOUNTS = """\
sysfs /sys sysfs rw,nosuid,nodev,noexec,relatime 0 0
bpf /sys/fs/bpf bpf rw,nosuid,nodev,noexec,relatime,mode=700 0 0
none /run/bpf-extra bpf rw 0 0
tmpfs /run tmpfs rw 0 0
"""


def test_bpffs_mounts() -> None:
    assert kernel.bpffs_mounts(MOUNTS) == ["/sys/fs/bpf", "/run/bpf-extra"]
    assert kernel.bpffs_mounts("proc /proc proc rw 0 0\n") == []


def test_effective_capabilities() -> None:
    status = "Name:\tpython3\nCapInh:\t0000000000000000\nCapEff:\t000000c000000000\n"
    caps = kernel.effective_capabilities(status)
    assert caps == (1 << kernel.CAP_BPF) | (1 << kernel.CAP_PERFMON)
    assert kernel.effective_capabilities("Name:\tx\n") == 0


def test_privilege_rules() -> None:
    bpf_only = 1 << kernel.CAP_BPF
    both = bpf_only | (1 << kernel.CAP_PERFMON)
    assert kernel.can_load_by_capabilities(0, euid=0)
    assert kernel.can_load_by_capabilities(1 << kernel.CAP_SYS_ADMIN, euid=1000)
    assert kernel.can_load_by_capabilities(both, euid=1000)
    assert not kernel.can_load_by_capabilities(bpf_only, euid=1000)
    assert not kernel.can_load_by_capabilities(0, euid=1000)
