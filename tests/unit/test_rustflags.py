"""The project's own bpf rustflags (its cargo configs) merged with buildbpf's."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.build.plan import ebpf_rustflags
from buildbpf.build.rustflags import merge, parse
from buildbpf.cargo.config_file import ConfigFlags
from buildbpf.errors import ConfigError

CONFIG = Path("/ws/probe/probe-ebpf/.cargo/config.toml")
KEY = "target.bpfel-unknown-none.rustflags"
OURS = ebpf_rustflags(btf=True, bpf_target_arch="x86_64")
PROFILE = {"opt-level": "3", "lto": "true", "codegen-units": "1", "panic": "abort"}


def merged(*flags: str, key: str = KEY) -> tuple[list[str], tuple[str, ...]]:
    result = merge(OURS, [ConfigFlags(CONFIG, key, flags)], PROFILE, crate="probe-ebpf")
    return result.flags, result.overridden


def test_what_buildbpf_passes_anyway_is_passed_once() -> None:
    # projects that wrote the BTF flags themselves, in every spelling rustc takes
    for spelling in (("-C", "debuginfo=2", "-C", "link-arg=--btf"), ("-Cdebuginfo=2", "-Clink-arg=--btf"),
                     ("-g", "--codegen", "link-arg=--btf"), ("-C", "panic=abort")):  # fmt: skip
        assert merged(*spelling) == (OURS, ())


def test_cfg_and_unstable_flags_are_added_after_buildbpfs() -> None:
    flags, overridden = merged("--cfg", "my_feature", "-Zshare-generics=n", "--cfg=feature=\"x\"", "-C",
                               "target-cpu=v3", "-C", "link-arg=--unroll-loops")  # fmt: skip
    assert flags == [*OURS, "--cfg", "my_feature", "-Z", "share-generics=n", "--cfg", 'feature="x"',
                     "-C", "target-cpu=v3", "-C", "link-arg=--unroll-loops"]  # fmt: skip
    assert overridden == ()


@pytest.mark.parametrize(
    ("flags", "named"),
    [
        (("-C", "debuginfo=1"), f"-C debuginfo=1 ({CONFIG}; buildbpf uses debuginfo=2)"),
        (("-Copt-level=s",), f"-C opt-level=s ({CONFIG}; buildbpf uses opt-level=3)"),
        (("--cfg", 'bpf_target_arch="aarch64"'),
         f'--cfg bpf_target_arch="aarch64" ({CONFIG}; buildbpf uses bpf_target_arch="x86_64")'),
    ],
)  # fmt: skip
def test_buildbpfs_value_wins_and_is_named(flags: tuple[str, ...], named: str) -> None:
    assert merged(*flags, "--cfg", "kept") == ([*OURS, "--cfg", "kept"], (named,))


@pytest.mark.parametrize(
    ("flag", "why"),
    [
        (("-C", "link-arg=-fuse-ld=mold"), "`-fuse-ld=mold` is a host linker option"),
        (("-Clink-args=-Wl,--gc-sections",), "`-Wl,--gc-sections` is a host linker option"),
        (("-C", "target-cpu=native"), "`native` is not a BPF CPU"),
        (("-C", "linker=clang"), "`linker` is for host linkers"),
        (("-C", "panic=unwind"), "BPF has no unwinding"),
    ],
)
def test_flags_that_cannot_work_for_bpf_are_refused(flag: tuple[str, ...], why: str) -> None:
    with pytest.raises(ConfigError, match="has `") as caught:
        merged(*flag, key="build.rustflags")
    assert caught.value.exit_code == 2
    assert str(caught.value).startswith(f"{CONFIG}: `build.rustflags` has `{' '.join(parse(flag)[0])}`")
    assert "eBPF build of probe-ebpf" in str(caught.value)
    assert why in str(caught.value)
    assert caught.value.fix is not None
    assert caught.value.fix.startswith(f"remove it from {CONFIG}")
    assert "[target.<host triple>] rustflags" in caught.value.fix


def test_bpf_linker_options_projects_write_are_kept() -> None:
    # as public projects' eBPF configs have them: bpf-linker's own options, LTO and relocation flags
    habit = ("-C", "link-arg=--disable-memory-builtins", "-C", "linker-plugin-lto", "-C",
             "relocation-model=static")  # fmt: skip
    assert merged(*habit) == ([*OURS, *habit], ())


def test_overridden_flags_are_said_once_in_one_line(caplog: pytest.LogCaptureFixture) -> None:
    from types import SimpleNamespace
    from typing import Any

    from buildbpf.build import execute

    line = f"-C debuginfo=1 ({CONFIG}; buildbpf uses debuginfo=2)"
    step: Any = SimpleNamespace(what="eBPF crate probe-ebpf (bpfel-unknown-none)", overridden=(line,))
    said: set[str] = set()
    with caplog.at_level("INFO", logger="buildbpf"):
        execute._say_overridden(step, said)
        execute._say_overridden(step, said)  # the same crate for another target, say
    assert [r.getMessage() for r in caplog.records] == [
        f"eBPF crate probe-ebpf (bpfel-unknown-none): your rustflags replaced by buildbpf's: {line}"
    ]
