"""Attach-target verdicts and suggestions, against fake kernel symbol tables."""

from __future__ import annotations

from buildbpf.objects import attach

SYMBOLS = frozenset({"__x64_sys_connect", "__sys_connect", "__do_sys_openat", "do_unlinkat", "tcp_connect"})
BTF = {
    "FUNC": frozenset({"do_unlinkat", "bpf_lsm_file_open", "bpf_lsm_file_permission"}),
    "TYPEDEF": frozenset({"btf_trace_sched_process_exec", "btf_trace_sched_switch"}),
}


def verdict(section: str) -> attach.Verdict | None:
    return attach.check_section(section, arch="x86_64", symbols=lambda: SYMBOLS, kernel_btf=lambda: BTF)


def test_kprobe_found_and_missing_with_suggestions() -> None:
    found = verdict("kprobe/__x64_sys_connect")
    assert found is not None
    assert found.found is True
    missing = verdict("kprobe/sys_connect")
    assert missing is not None
    assert missing.found is False
    assert missing.suggestions == (
        "__x64_sys_connect",
        "__sys_connect",
        "tracepoint syscalls/sys_enter_connect",
    )


def test_arm64_wrapper_name() -> None:
    symbols = frozenset({"__arm64_sys_connect"})
    assert attach.syscall_suggestions("sys_connect", symbols, "aarch64")[0] == "__arm64_sys_connect"


def test_btf_targets() -> None:
    assert verdict("fentry/do_unlinkat") == attach.Verdict(
        "fentry/do_unlinkat", "fentry", "do_unlinkat", True
    )
    wrong = verdict("fexit/do_unlink")
    assert wrong is not None
    assert wrong.found is False
    assert "do_unlinkat" in wrong.suggestions
    lsm = verdict("lsm/file_open")
    assert lsm is not None
    assert lsm.found is True
    bad_hook = verdict("lsm/file_opn")
    assert bad_hook is not None
    assert bad_hook.suggestions[0] == "file_open"
    tp = verdict("tp_btf/sched_process_exec")
    assert tp is not None
    assert tp.found is True


def test_sections_without_target_and_unknown_kinds() -> None:
    assert verdict("kprobe") is None
    assert verdict("xdp") is None
    assert verdict("classifier/ingress") is None


def test_without_kernel_btf_nothing_is_claimed() -> None:
    result = attach.check_section("fentry/x", symbols=lambda: SYMBOLS, kernel_btf=dict)
    assert result is not None
    assert result.found is None


def test_load_targets_from_sections() -> None:
    from buildbpf.objects.verifier import attach_targets, parse_output

    sections = {"f": "fentry/do_unlinkat", "x": "xdp", "l": "lsm/file_open", "k": "kprobe/x",
                "s": "fentry.s/vfs_read", "n": "fentry"}  # fmt: skip
    assert attach_targets(sections) == ["f=do_unlinkat", "l=file_open", "s=vfs_read"]
    loads, error, facts = parse_output(
        '{"kernel": {"bpffs": "private", "lsms": "lockdown,capability,bpf"}}\n'
        '{"name": "f", "type": "Tracing", "ok": false, "error": "EPERM", "verifier_log": "a\\nb"}\n'
        '{"name": "x", "type": "Xdp", "ok": true, "translated_insns": 21, "verified_insns": 12, '
        '"jited_bytes": 9}\n'
    )
    assert error is None
    assert facts.bpffs == "private"
    assert facts.lsms == ("lockdown", "capability", "bpf")
    assert [(x.name, x.ok, x.translated_insns) for x in loads] == [("f", False, None), ("x", True, 21)]
    assert loads[0].verifier_log == "a\nb"
    assert parse_output('{"object_error": "bad ELF"}\n')[:2] == ([], "bad ELF")


def test_a_uprobe_binary_this_user_cannot_look_at_is_not_a_crash() -> None:
    """`check` as a user for an object naming a binary under /root (issue #11, sibling of #9)."""
    from buildbpf.objects.attach import check_section
    from tests.support import as_unprivileged, world_readable_tmp

    with world_readable_tmp() as base:
        locked = base / "root-home"
        locked.mkdir()
        (locked / "app").write_text("")
        locked.chmod(0o700)
        verdict = as_unprivileged(lambda: check_section(f"uprobe/{locked}/app:main"))
    assert verdict is not None and verdict.found is None
    assert verdict.detail == f"{locked}/app cannot be looked at (Permission denied)"
