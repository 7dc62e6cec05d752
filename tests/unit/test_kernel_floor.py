"""`min_kernel` picks the bpf-linker settings an old kernel needs, says why, and never
overrides what the user set."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.build import kernel_floor
from buildbpf.build.precedence import effective
from buildbpf.build.settings import Cpu, load_config


def config(tmp_path: Path, text: str) -> Path:
    (tmp_path / "buildbpf.toml").write_text(text)
    return tmp_path


@pytest.mark.parametrize(
    ("version", "cpu", "unroll", "no_inline"),
    [
        ((4, 9), Cpu.V1, True, True),
        ((4, 14), Cpu.V2, True, True),
        ((4, 19), Cpu.V2, True, None),
        ((5, 1), Cpu.V3, True, None),
        ((5, 3), Cpu.V3, None, None),
        ((5, 10), Cpu.V3, None, None),
        ((6, 6), None, None, None),
        ((7, 3), None, None, None),
    ],
)
def test_what_each_kernel_needs(
    version: tuple[int, int], cpu: Cpu | None, unroll: bool | None, no_inline: bool | None
) -> None:
    needs = {key: value for key, value, _ in kernel_floor.linker_needs(version)}
    assert (needs.get("cpu"), needs.get("unroll_loops"), needs.get("ignore_inline_never")) == (
        cpu,
        unroll,
        no_inline,
    )


@pytest.mark.parametrize(("spec", "expected"), [("5.10", (5, 10)), ("6.1", (6, 1)), ("latest", None),
                                                  ("lts", None), ("", None), (None, None)])  # fmt: skip
def test_series(spec: str | None, expected: tuple[int, int] | None) -> None:
    assert kernel_floor.series(spec) == expected


def test_min_kernel_fills_the_linker_and_says_why(tmp_path: Path) -> None:
    loaded = load_config(config(tmp_path, '[defaults]\nmin_kernel = "5.2"\n'))
    linker = effective("x-ebpf", loaded, {}).values["linker"]
    assert (linker.value.cpu, linker.value.unroll_loops, linker.value.ignore_inline_never) == (
        Cpu.V3,
        True,
        None,
    )
    assert "min_kernel = 5.2 (buildbpf.toml:2 defaults.min_kernel)" in linker.origin
    assert "cpu = v3 (the v4 ISA needs 6.6)" in linker.origin
    assert "unroll_loops = true (bounded loops need 5.3)" in linker.origin


def test_what_the_user_set_wins(tmp_path: Path) -> None:
    text = '[defaults]\nmin_kernel = "4.9"\n\n[defaults.linker]\ncpu = "v2"\nunroll_loops = false\n'
    loaded = load_config(config(tmp_path, text))
    linker = effective("x-ebpf", loaded, {}).values["linker"]
    assert (linker.value.cpu, linker.value.unroll_loops, linker.value.ignore_inline_never) == (
        Cpu.V2,
        False,
        True,
    )
    assert linker.origin.startswith("buildbpf.toml")
    assert "ignore_inline_never = true (BPF-to-BPF calls need 4.16)" in linker.origin
    assert "cpu = " not in linker.origin


def test_no_min_kernel_or_a_new_one_changes_nothing(tmp_path: Path) -> None:
    for text in ("", '[defaults]\nmin_kernel = "6.12"\n', '[defaults]\nmin_kernel = "latest"\n'):
        loaded = load_config(config(tmp_path, text))
        linker = effective("x-ebpf", loaded, {}).values["linker"]
        assert (linker.value.cpu, linker.value.unroll_loops, linker.value.ignore_inline_never) == (
            None,
            None,
            None,
        ), text
