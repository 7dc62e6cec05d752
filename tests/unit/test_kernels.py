"""`check --kernel`: the kernel table, apt's output, the initramfs writer, the guest's console."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildbpf.errors import ConfigError
from buildbpf.kernels import catalog, fetch, guest, initramfs, matrix, qemu

DATA = Path(__file__).parent / "data" / "kernels"

PKGNAMES = """\
linux-image-5.10.0-46-cloud-amd64
linux-image-5.10.0-46-cloud-amd64-dbg
linux-image-5.10.0-46-cloud-amd64-unsigned
linux-image-5.10.0-9-cloud-amd64
linux-image-6.1.0-56-cloud-amd64
linux-image-6.12.9+deb13-cloud-amd64
linux-image-6.12.118+deb13-cloud-amd64
linux-image-6.12.117+deb12-cloud-amd64
linux-image-7.2.13+deb14-cloud-amd64
linux-image-7.3.4+deb13-cloud-amd64
linux-image-cloud-amd64
linux-image-6.1.0-56-amd64
linux-image-rt-amd64
"""

SHOW_SPLIT = (
    (
        "Package: linux-image-7.3.4+deb13-cloud-amd64\n"
        "Source: linux-signed-amd64 (7.3.4+1~bpo13+1)\n"
        "Version: 7.3.4-1~bpo13+1\n"
        "Depends: dracut | initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool, "
        "linux-base-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1), "
        "linux-binary-7.3.4+deb13-cloud-amd64 (= 7.3.4-1~bpo13+1)\n"
    )
    + """\
Description-en: Linux 7.3.4 for x86-64 cloud
 A continuation line that mentions Depends: nothing.
Filename: pool/main/l/linux-signed-amd64/linux-image-7.3.4+deb13-cloud-amd64_7.3.4-1~bpo13+1_amd64.deb
Size: 1928
SHA256: 4545cda1cab2f7e975e9b3ad1744b4a360092a85a793156bf48f1bdf02906cc9

"""
)

SHOW_WHOLE = """\
Package: linux-image-5.10.0-46-cloud-amd64
Version: 5.10.262-1
Depends: kmod, linux-base (>= 4.3~), initramfs-tools (>= 0.120+deb8u2) | linux-initramfs-tool
Filename: pool/main/l/linux-signed-amd64/linux-image-5.10.0-46-cloud-amd64_5.10.262-1_amd64.deb
Size: 21521796
SHA256: 18d94781d1b3052e21967ac2262239e5f14fbf511d6c3e110629d7aa35340760
"""


def test_expand_aliases_in_order_without_duplicates() -> None:
    assert catalog.expand("5.10,lts, latest,6.1") == ["5.10", "6.1", "6.12", "6.18", "latest"]
    assert catalog.expand(["7.3", "LATEST"]) == ["7.3", "latest"]
    assert catalog.expand("path:/tmp/bzImage,5.10") == ["path:/tmp/bzImage", "5.10"]


@pytest.mark.parametrize("spec", ["bookworm", "6", "", ",", "6.1.0-56"])
def test_expand_refuses_what_is_not_a_kernel(spec: str) -> None:
    with pytest.raises(ConfigError):
        catalog.expand(spec)


def test_table_covers_the_issue_s_kernels() -> None:
    assert catalog.KERNELS["5.10"][0] == "bullseye-security"
    assert catalog.KERNELS["6.1"][0] == "bookworm-security"
    assert catalog.KERNELS["6.12"][0] == "trixie-security"
    suites = {suite for _, suite in catalog.SOURCES}
    assert {suite for suite, _ in catalog.KERNELS.values()} <= suites
    assert "deb http://deb.debian.org/debian sid main\n" in catalog.sources_list()


def test_image_packages_keep_only_the_cloud_flavour() -> None:
    found = catalog.image_packages(PKGNAMES.splitlines())
    assert found == {
        "5.10.0-46": "linux-image-5.10.0-46-cloud-amd64",
        "5.10.0-9": "linux-image-5.10.0-9-cloud-amd64",
        "6.1.0-56": "linux-image-6.1.0-56-cloud-amd64",
        "6.12.9+deb13": "linux-image-6.12.9+deb13-cloud-amd64",
        "6.12.118+deb13": "linux-image-6.12.118+deb13-cloud-amd64",
        "6.12.117+deb12": "linux-image-6.12.117+deb12-cloud-amd64",
        "7.2.13+deb14": "linux-image-7.2.13+deb14-cloud-amd64",
        "7.3.4+deb13": "linux-image-7.3.4+deb13-cloud-amd64",
    }


def test_choose_takes_the_newest_release_of_a_series() -> None:
    found = catalog.image_packages(PKGNAMES.splitlines())
    assert catalog.choose("5.10", found) == "linux-image-5.10.0-46-cloud-amd64"
    assert catalog.choose("6.1", found) == "linux-image-6.1.0-56-cloud-amd64"  # not 6.12
    assert catalog.choose("6.12", found) == "linux-image-6.12.118+deb13-cloud-amd64"
    assert catalog.choose("latest", found) == "linux-image-7.3.4+deb13-cloud-amd64"
    assert catalog.choose("4.19", found) is None
    assert catalog.series_of("6.12.118+deb13") == "6.12"


def test_parse_stanzas_and_the_packages_that_hold_the_kernel() -> None:
    [split] = catalog.parse_stanzas(SHOW_SPLIT)
    assert split.version == "7.3.4-1~bpo13+1"
    assert split.size == 1928 and split.sha256.startswith("4545cda1")
    assert catalog.payload_packages(split) == [
        "linux-base-7.3.4+deb13-cloud-amd64", "linux-binary-7.3.4+deb13-cloud-amd64",
    ]  # fmt: skip
    [whole] = catalog.parse_stanzas(SHOW_WHOLE + "\n\n" + "Garbage: x\n")
    assert whole.depends[:2] == ("kmod", "linux-base")
    assert catalog.payload_packages(whole) == ["linux-image-5.10.0-46-cloud-amd64"]


def test_apt_download_output() -> None:
    output = (
        "Get:1 http://deb.debian.org/debian trixie-backports/main amd64 linux-binary-7.3.4+deb13-cloud-amd64"
        " amd64 7.3.4-1~bpo13+1 [13.6 MB]\nFetched 13.6 MB in 0s (332 MB/s)\n"
        "W: Download is performed unsandboxed as root\nE: Unable to locate package linux-image-9.9\n"
    )
    assert catalog.downloaded_files(output) == ["linux-binary-7.3.4+deb13-cloud-amd64"]
    assert catalog.apt_error(output) == "Unable to locate package linux-image-9.9"
    assert catalog.apt_error("Reading package lists...") is None


@pytest.mark.parametrize(
    ("member", "kind"),
    [
        ("./boot/vmlinuz-5.10.0-46-cloud-amd64", "vmlinuz"),
        ("./boot/config-5.10.0-46-cloud-amd64", "config"),
        ("./boot/System.map-5.10.0-46-cloud-amd64", None),
        ("./usr/lib/modules/7.3.4+deb13-cloud-amd64/vmlinuz", "vmlinuz"),
        ("./usr/lib/modules/7.3.4+deb13-cloud-amd64/config", "config"),
        ("./usr/lib/modules/7.3.4+deb13-cloud-amd64/kernel/net/config", None),
        ("./usr/share/doc/config", None),
    ],
)
def test_only_vmlinuz_and_config_are_unpacked(member: str, kind: str | None) -> None:
    assert fetch.payload_kind(member) == kind


def test_config_check(tmp_path: Path) -> None:
    config = tmp_path / "config"
    config.write_text("CONFIG_BPF_SYSCALL=y\n# CONFIG_DEBUG_INFO_BTF is not set\n")
    assert fetch.check_config(config) == ["CONFIG_DEBUG_INFO_BTF=y"]


def test_private_apt_configuration(tmp_path: Path) -> None:
    env = fetch.apt_env(tmp_path)
    conf = Path(env["APT_CONFIG"]).read_text()
    assert f'Dir::State::Lists "{tmp_path}/apt/lists";' in conf
    assert f'Dir::Etc::sourcelist "{tmp_path}/apt/sources.list";' in conf
    assert 'Dir::State::status "/dev/null";' in conf  # nothing is ever installed
    assert "bullseye-security" in (tmp_path / "apt" / "sources.list").read_text()


def test_cpio_is_byte_exact_with_gnu_cpio() -> None:
    # tests/unit/data/kernels/small.cpio: `cpio -o -H newc --reproducible -R 0:0` (GNU cpio 2.13)
    # of objects/ (0755), objects/a.o (0644, "abcde"), init (0755), all with mtime 1700000000
    entries = [
        initramfs.Entry("objects", 0o755, None, 1700000000),
        initramfs.Entry("objects/a.o", 0o644, b"abcde", 1700000000),
        initramfs.Entry("init", 0o755, b"#!/bin/sh\necho hi\n", 1700000000),
    ]
    assert initramfs.archive(entries) == (DATA / "small.cpio").read_bytes()


def test_cpio_parents_come_first() -> None:
    entries = initramfs.with_parents({"a/b/c.o": (b"x", 0o644), "init": (b"y", 0o755)})
    assert [(e.name, e.data is None) for e in entries] == [
        ("a", True), ("a/b", True), ("a/b/c.o", False), ("init", False),
    ]  # fmt: skip
    assert len(initramfs.archive(entries)) % 512 == 0


# --- the guest's console and results ------------------------------------------------------


def test_scanner_joins_lines_split_across_reads() -> None:
    scanner = qemu.Scanner()
    assert scanner.feed(b'{"name": "a", "ok": tr') == []
    assert scanner.feed(b"ue}\r\nBUILDBPF-GU") == ['{"name": "a", "ok": true}']
    assert not scanner.ended()
    scanner.feed(b"EST-END\n")
    assert scanner.ended()


def test_scanner_ignores_noise_and_needs_the_whole_marker() -> None:
    scanner = qemu.Scanner()
    scanner.feed(b"\x1b[0m[    1.2] random: crng init done\nxx BUILDBPF-GUEST-END\nBUILDBPF-GUEST-EN")
    assert not scanner.ended()  # a marker inside a line, or cut short, is not the marker


def test_scanner_sees_a_panic_split_across_reads() -> None:
    scanner = qemu.Scanner()
    scanner.feed(b"[    0.9] Run /init as init process\n[    1.0] Kernel pa")
    assert scanner.panicked() is None
    scanner.feed(b"nic - not syncing: Attempted to kill init! exitcode=0x00000100\n")
    assert scanner.panicked() == "Kernel panic - not syncing: Attempted to kill init! exitcode=0x00000100"
    other = qemu.Scanner()
    other.feed(b"KVM internal error. Suberror: 1\nemulation failure\n")
    assert other.panicked() == "KVM internal error. Suberror: 1"


def test_kvm_needs_vmx_or_svm_and_no_kvm_pvm() -> None:
    assert (
        qemu.kvm_blocker("flags\t: fpu sse2 hypervisor\n", "")
        == "the CPU has no vmx/svm (no nested virtualisation)"
    )
    assert qemu.kvm_blocker("flags\t: fpu vmx\n", "kvm_pvm 1234 0 - Live 0x0\n") == "kvm_pvm is loaded"
    assert qemu.kvm_blocker("flags\t: fpu svm\n", "kvm_amd 1 0 - Live 0x0\n") is None


def test_qemu_command_line_has_two_serial_ports_and_no_reboot(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(qemu, "qemu_binary", lambda: "qemu-system-x86_64")
    argv = qemu.argv_for(tmp_path / "vmlinuz", tmp_path / "initrd", tmp_path / "out", "tcg")
    assert argv[argv.index("-accel") + 1] == "tcg"
    assert ["-serial", "stdio", "-serial", f"file:{tmp_path / 'out'}"] == argv[-4:]
    assert "-no-reboot" in argv and "panic=-1" in argv[argv.index("-append") + 1]


# --- the matrix ---------------------------------------------------------------------------

GUEST_510 = [
    '{"kernel": {"bpffs": "private", "lsms": "lockdown,capability", "release": "5.10.0-46-cloud-amd64"}}',
    '{"object": "/buildbpf/objects/0.o"}',
    '{"name": "xdp_counter", "type": "Xdp", "ok": true, "translated_insns": 13, '
    '"verified_insns": null, "jited_bytes": 69}',
    '{"name": "tai", "type": "KProbe", "ok": false, "error": "the BPF_PROG_LOAD syscall failed", '
    '"errno": 22, '
    '"verifier_log": "0: R1=ctx() R10=fp0\\n0: (85) call unknown#208\\ninvalid func unknown#208\\n'
    'processed 1 insns (limit 1000000)"}',
    '{"object": "/buildbpf/objects/1.o"}',
    '{"object_error": "error parsing ELF data"}',
    "BUILDBPF-GUEST-END",
]


def test_translated_reasons() -> None:
    assert matrix.translate("invalid func unknown#208\n", None, "KProbe") == (
        "helper 208 (bpf_ktime_get_tai_ns) does not exist before 6.1"
    )
    assert (
        matrix.translate("invalid func unknown#999\n", None, "Xdp")
        == "helper 999 does not exist in this kernel"
    )
    assert "not allowed in Xdp programs" in matrix.translate("unknown func bpf_d_path#147\n", None, "Xdp")
    assert "5.3" in matrix.translate("back-edge from insn 7 to 3\n", None, "Xdp")
    assert matrix.translate("R0 !read_ok\nprocessed 3 insns\n", "EACCES", "Xdp") == "R0 !read_ok"
    assert matrix.HELPERS[130] == ("bpf_ringbuf_output", "5.8")
    assert matrix.HELPERS[211] == ("bpf_cgrp_storage_delete", "6.2")


def test_matrix_from_guest_output() -> None:
    result = matrix.Matrix()
    column = matrix.Column("5.10", "5.10.0-46", accel="tcg", seconds=2.4)
    result.columns.append(column)
    labels = {"/buildbpf/objects/0.o": "probe", "/buildbpf/objects/1.o": "broken"}
    matrix.add_kernel(result, column, GUEST_510, labels)
    assert column.release == "5.10.0-46-cloud-amd64"
    cells = {r.program: r.cells["5.10"] for r in result.rows}
    assert cells["xdp_counter"].status == "pass" and cells["xdp_counter"].insns == 13
    assert cells["tai"].status == "fail"
    assert cells["tai"].reason == "helper 208 (bpf_ktime_get_tai_ns) does not exist before 6.1"
    assert result.object_errors == [{"object": "broken", "kernel": "5.10", "error": "error parsing ELF data"}]
    assert result.exit_code() == 5
    text = "\n".join(matrix.render(result))
    assert "probe xdp_counter  pass (13)" in text and "probe tai" in text and "FAIL" in text
    assert result.as_json()["exit_code"] == 5


def test_a_kernel_without_verdict_is_an_infrastructure_error() -> None:
    result = matrix.Matrix(
        [matrix.Column("6.1", "6.1.0-56", error="the guest kernel panicked: Kernel panic")]
    )
    assert result.exit_code() == 9
    assert "ERROR: the guest kernel panicked" in "\n".join(matrix.render(result))


def test_reason_skips_the_statistics_and_advice_after_the_verdict() -> None:
    log = (
        "0: R1=ctx() R10=fp0\n1: (71) r0 = *(u8 *)(r1 +12)\n"
        "invalid access to packet, off=12 size=1, R1(id=0,off=12,r=0)\nR1 offset is outside of the packet\n"
        "Suggestion:\n  Add or adjust a bounds check that proves offset + access_size stays inside.\n"
        "verification time 3741 usec\nstack depth max 0\nsubprog 0 (xdp_unchecked) main insns_self 2\n"
        "processed 2 insns (limit 1000000) max_states_per_insn 0 total_states 0\n"
    )
    assert matrix.translate(log, "EACCES", "Xdp") == "R1 offset is outside of the packet"
    assert matrix.judgement(log)[-1] == "R1 offset is outside of the packet"


def test_a_verified_program_whose_kprobe_is_missing_cannot_attach() -> None:
    lines = [
        '{"kernel": {"bpffs": "private", "lsms": null, "release": "5.10.0-46-cloud-amd64"}}',
        '{"attach": {"object": "/buildbpf/objects/0.o", "function": "probe", "kind": "kprobe", '
        '"target": "bpf_ktime_get_tai_ns", "found": false}}',
        '{"object": "/buildbpf/objects/0.o"}',
        '{"name": "probe", "type": "KProbe", "ok": true, "translated_insns": 2, "verified_insns": null}',
        "BUILDBPF-GUEST-END",
    ]
    result = matrix.Matrix([matrix.Column("5.10", "5.10.0-46")])
    matrix.add_kernel(result, result.columns[0], lines, {"/buildbpf/objects/0.o": "obj"})
    [row] = result.rows
    assert row.cells["5.10"].status == "cannot attach"
    assert row.cells["5.10"].reason == "kprobe bpf_ktime_get_tai_ns is not in this kernel's /proc/kallsyms"
    assert result.exit_code() == 5
    # a section named after its own program (aya-bpf's macros): said so
    named = [line.replace('"function": "probe"', '"function": "bpf_ktime_get_tai_ns"').replace(
        '"name": "probe"', '"name": "bpf_ktime_get_tai_ns"') for line in lines]  # fmt: skip
    again = matrix.Matrix([matrix.Column("5.10", "5.10.0-46")])
    matrix.add_kernel(again, again.columns[0], named, {"/buildbpf/objects/0.o": "obj"})
    assert (again.rows[0].cells["5.10"].reason or "").endswith("if so, userspace names the target)")


def test_a_btf_attach_target_the_kernel_lacks_cannot_attach() -> None:
    # the helper looks the target up in the kernel's BTF, as Aya's FEntry::load does, and says
    # so instead of loading; a target that exists is loaded and judged by the verifier
    missing = "fentry target `vfs_fileattr_set` is not in this kernel's BTF (no function vfs_fileattr_set)"
    lines = [
        '{"kernel": {"bpffs": "private", "lsms": null, "release": "5.10.0-46-cloud-amd64"}}',
        '{"object": "/buildbpf/objects/0.o"}',
        f'{{"name": "fe", "type": "FEntry", "ok": false, "needs": "attach", "error": "{missing}"}}',
        '{"name": "fx", "type": "FExit", "ok": true, "translated_insns": 2, "verified_insns": 2}',
        '{"name": "tp", "type": "BtfTracePoint", "ok": false, "needs": "target", "error": "no target"}',
        "BUILDBPF-GUEST-END",
    ]
    result = matrix.Matrix([matrix.Column("5.10", "5.10.0-46")])
    matrix.add_kernel(result, result.columns[0], lines, {"/buildbpf/objects/0.o": "obj"})
    cells = {r.program: r.cells["5.10"] for r in result.rows}
    assert cells["fe"].status == "cannot attach" and cells["fe"].reason == missing
    assert cells["fx"].status == "pass"
    assert cells["tp"].status == "not verified"
    assert result.exit_code() == 5
    assert f"obj fe on 5.10: cannot attach: {missing}" in matrix.render(result)


def test_an_aya_error_without_a_verifier_log_is_not_guessed_to_be_an_attach_problem() -> None:
    # only the helper's own lookup decides "cannot attach"; any other refusal is a failure
    lines = [
        '{"object": "/buildbpf/objects/0.o"}',
        '{"name": "fe", "type": "FEntry", "ok": false, "error": "BTF error: not found", "errno": null, '
        '"verifier_log": ""}',
    ]
    result = matrix.Matrix([matrix.Column("6.1", "6.1.0-56")])
    matrix.add_kernel(result, result.columns[0], lines, {"/buildbpf/objects/0.o": "obj"})
    assert result.rows[0].cells["6.1"].status == "fail"


def test_full_log_keeps_every_line_of_a_refusal() -> None:
    log = "".join(f"{i}: (b7) r0 = 0\n" for i in range(40)) + "R0 !read_ok\nprocessed 40 insns\n"
    line = (
        '{"name": "x", "type": "Xdp", "ok": false, "error": "Permission denied", "errno": 13, '
        f'"verifier_log": {json.dumps(log)}}}'
    )
    lines = ['{"object": "/buildbpf/objects/0.o"}', line]
    short, whole = matrix.Matrix([matrix.Column("6.1", "k")]), matrix.Matrix([matrix.Column("6.1", "k")])
    matrix.add_kernel(short, short.columns[0], lines, {"/buildbpf/objects/0.o": "obj"})
    matrix.add_kernel(whole, whole.columns[0], lines, {"/buildbpf/objects/0.o": "obj"}, full_log=True)
    assert len(short.rows[0].cells["6.1"].log_tail) == 15
    assert whole.rows[0].cells["6.1"].log_tail == log.rstrip().splitlines()
    assert sum("    | " in x for x in matrix.render(short)) == 6
    assert sum("    | " in x for x in matrix.render(whole, full_log=True)) == 42


def test_the_guest_is_told_to_send_whole_logs(tmp_path: Path) -> None:
    helper = tmp_path / "helper"
    helper.write_bytes(b"\x7fELF")
    for full_log, expected in ((False, b""), (True, b"full-log\n")):
        archive = guest.initrd(helper, [], full_log=full_log)
        name = guest.OPTIONS.encode() + b"\0"
        assert name in archive
        # newc: the file's data follows its NUL-terminated name, padded to 4 bytes
        start = archive.index(name) + len(name)
        start += -(start) % 4
        header = archive[archive.rindex(b"070701", 0, start) :]
        assert int(header[54:62], 16) == len(expected)  # c_filesize
        assert archive[start : start + len(expected)] == expected


def test_a_big_endian_object_is_not_verified_and_boots_no_guest() -> None:
    from buildbpf.kernels import verify
    from buildbpf.objects.check import add_loads
    from buildbpf.objects.facts import ObjectProgram
    from buildbpf.objects.report import ObjectReport

    def report() -> ObjectReport:
        program = ObjectProgram("xdp_pass", "xdp", "xdp", 2)
        return ObjectReport("/x/probe", byte_order="bpfeb", programs=[program])

    # no toolchain, no helper, no VM: a boot would need them and fail here
    result = verify.on_reports([report()], ["5.10", "6.1"], {}, rust=None)  # type: ignore[arg-type]
    assert [(c.request, c.booted) for c in result.columns] == [("5.10", False), ("6.1", False)]
    [row] = result.rows
    assert (row.object, row.program) == ("probe", "xdp_pass")
    assert {c.status for c in row.cells.values()} == {"not verified"}
    assert "every guest (x86_64) is little-endian" in (row.cells["5.10"].reason or "")
    assert result.exit_code() == 0
    assert "5.10: not booted (nothing it could load)" in matrix.render(result)
    # on the host (little-endian here): a warning, not a load the helper would fail
    host = report()
    add_loads(host, Path("/nonexistent/helper"))
    assert host.loads == [] and host.problems == []
    assert host.warnings == [
        "load: not verified here: a bpfeb (big-endian) object loads only into a big-endian kernel, "
        "and this machine is little-endian; check it on such a machine"
    ]


def test_aya_bpf_era_sections_give_the_guest_no_targets(monkeypatch: pytest.MonkeyPatch) -> None:
    from buildbpf.kernels import verify
    from buildbpf.objects.facts import ObjectProgram
    from buildbpf.objects.report import ObjectReport

    seen: dict[str, object] = {}

    def check(objects, requests, helper, **kwargs):  # type: ignore[no-untyped-def]
        seen.update(objects=objects, sections=kwargs["sections"])
        return matrix.Matrix()

    monkeypatch.setattr(verify, "check", check)
    monkeypatch.setattr(guest, "static_helper", lambda rust: Path("/helper"))
    programs = [ObjectProgram("fs_probe", "kprobe/fs_probe", "kprobe", 2),
                ObjectProgram("fe", "fentry/fe", "fentry", 2)]  # fmt: skip
    new = ObjectReport("/x/new", programs=programs)
    old = ObjectReport("/x/old", programs=programs, sections_name_programs=True)
    verify.on_reports([new, old], ["5.10"], {}, rust=None)  # type: ignore[arg-type]
    assert seen["sections"] == [{"fs_probe": "kprobe/fs_probe", "fe": "fentry/fe"}, {}]
    assert [targets for _, _, targets in seen["objects"]] == [{"fe": "fe"}, {}]  # type: ignore[attr-defined]


def test_the_guest_gets_the_kprobe_and_tracepoint_targets() -> None:
    sections = [
        {"a": "kprobe/tcp_connect", "b": "xdp", "c": "kprobe"},
        {"d": "tracepoint/syscalls/sys_enter_kill"},
    ]
    assert guest.attach_list(sections) == (
        "/buildbpf/objects/0.o\ta\tkprobe\ttcp_connect\n"
        "/buildbpf/objects/1.o\td\ttracepoint\tsyscalls/sys_enter_kill\n"
    )


def test_build_with_kernel_is_never_replayed() -> None:
    from buildbpf.build.replay import eligible

    assert eligible(["build", "--release"], {})
    assert not eligible(["build", "--release", "--kernel", "5.10"], {})
    assert not eligible(["build", "--kernel=lts"], {})


def test_lock_file_round_trip(tmp_path: Path) -> None:
    from buildbpf.kernels import lock

    package = {"name": "linux-image-5.10.0-46-cloud-amd64", "version": "5.10.262-1", "sha256": "ab"}
    kernel = fetch.Kernel("5.10.0-46", "5.10", tmp_path / "vmlinuz", None, [package], "cd")
    lock.write(tmp_path / lock.NAME, {"5.10": kernel})
    nested = tmp_path / "crate" / "src"
    nested.mkdir(parents=True)
    assert lock.find(nested) == tmp_path / lock.NAME
    entry = lock.locked("5.10", nested)
    assert entry == {"release": "5.10.0-46", "vmlinuz_sha256": "cd", "packages": kernel.packages}
    assert lock.locked("6.1", nested) is None
    assert "kernels --lock" in (tmp_path / lock.NAME).read_text().splitlines()[0]


def test_kernels_and_min_kernel_in_buildbpf_toml(tmp_path: Path) -> None:
    from buildbpf.build.precedence import effective
    from buildbpf.build.settings import configured_kernels, load_config

    (tmp_path / "buildbpf.toml").write_text(
        '[defaults]\nkernels = ["6.1", "latest"]\nmin_kernel = "5.10"\n[crates.b-ebpf]\nkernels = ["6.12"]\n'
    )
    config = load_config(tmp_path)
    assert configured_kernels(effective("a-ebpf", config, environ={})) == ["5.10", "6.1", "latest"]
    assert configured_kernels(effective("b-ebpf", config, environ={})) == ["5.10", "6.12"]
    (tmp_path / "buildbpf.toml").write_text("")
    assert configured_kernels(effective("a-ebpf", load_config(tmp_path), environ={})) == []


def test_own_image_checks_the_config_of_its_tree(tmp_path: Path) -> None:
    image = tmp_path / "arch" / "x86" / "boot" / "bzImage"
    image.parent.mkdir(parents=True)
    image.write_bytes(b"MZ kernel")
    (tmp_path / ".config").write_text("CONFIG_BPF_SYSCALL=y\n")
    with pytest.raises(ConfigError, match="CONFIG_DEBUG_INFO_BTF=y"):
        fetch.own_image(image)
    (tmp_path / ".config").write_text("CONFIG_BPF_SYSCALL=y\nCONFIG_DEBUG_INFO_BTF=y\n")
    kernel = fetch.own_image(image)
    assert (kernel.name, kernel.series, kernel.config) == ("bzImage", "custom", tmp_path / ".config")
    assert catalog.expand(f"path:{image}") == [f"path:{image}"]
    with pytest.raises(ConfigError, match="does not exist"):
        fetch.own_image(tmp_path / "missing")


def test_building_the_static_helper_shows_cargo_and_says_it_happens_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from buildbpf.toolchain.rust import Mode, RustToolchain
    from buildbpf.toolchain.versions import parse_rustc_vv

    calls: list[dict[str, object]] = []

    def cargo(argv: object, **options: object) -> None:
        calls.append(options)
        env = options["env_set"]
        assert isinstance(env, dict)
        binary = Path(env["CARGO_TARGET_DIR"]) / guest.TARGET / "release" / "buildbpf-loader"
        binary.parent.mkdir(parents=True)
        binary.write_text("")
        binary.chmod(0o755)

    monkeypatch.setattr(guest, "run", cargo)
    monkeypatch.setenv("BUILDBPF_CACHE_DIR", str(tmp_path / "cache"))
    info = parse_rustc_vv((Path(__file__).parent / "data" / "rustc-vV-debian.txt").read_text())
    rust = RustToolchain("PATH", Mode.BOOTSTRAP, tmp_path / "cargo", tmp_path / "rustc", tmp_path, info)
    binary = guest.static_helper(rust)
    [options] = calls
    assert options.get("stream", True) is True and options.get("echo", True) is True  # cargo's own lines
    before, after = capsys.readouterr().err.splitlines()
    assert before.startswith(
        "buildbpf: building the static verifier helper for the kernel VMs: a few minutes"
    )
    assert f"once per toolchain ({info.release})" in before
    assert after.startswith("buildbpf: built the static verifier helper in ")
    assert after.endswith(f"kept in {binary.parents[3]} for the next runs")
    assert guest.static_helper(rust) == binary and len(calls) == 1
    assert capsys.readouterr().err == ""  # the next run: nothing built, nothing said
