"""The project's own bpf-target rustflags (its cargo configs) merged with buildbpf's. Pure.

buildbpf passes its flags in CARGO_ENCODED_RUSTFLAGS, which makes cargo ignore every config
file's rustflags; so the ones a project wrote for the eBPF build are read and merged here:
buildbpf's win where both set one thing, and flags that cannot work for BPF are refused.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from buildbpf.cargo.config_file import ConfigFlags
from buildbpf.errors import ConfigError

# rustc options whose value is the next argument (or joined: `-Cx`, `--cfg=x`)
_SHORT = ("-C", "-Z", "-L", "-l", "-A", "-W", "-D", "-F")
_LONG = {
    "--codegen": "-C", "--cfg": "--cfg", "--check-cfg": "--check-cfg", "--cap-lints": "--cap-lints",
    "--allow": "-A", "--warn": "-W", "--deny": "-D", "--forbid": "-F", "--edition": "--edition",
}  # fmt: skip
BPF_CPUS = ("generic", "probe", "v1", "v2", "v3", "v4")  # what LLVM's BPF backend knows
# set by the release profile buildbpf passes (PITFALLS #6): the profile's value wins
_PROFILE_KEYS = ("opt-level", "lto", "codegen-units", "debug-assertions", "overflow-checks")
_LINKER_KEYS = ("linker", "linker-flavor", "link-self-contained", "prefer-dynamic")

Flag = tuple[str, str | None]  # (option, value): ("-C", "debuginfo=2"), ("--cfg", "x"), ("-Zfoo", None)


def parse(tokens: Sequence[str]) -> list[Flag]:
    """rustc arguments as (option, value) pairs, spellings made one (`-Cx=1` is `-C x=1`)."""
    flags: list[Flag] = []
    rest = iter(tokens)
    for token in rest:
        name, eq, joined = token.partition("=")
        if token in _SHORT or token in _LONG:
            flags.append((_LONG.get(token, token), next(rest, "")))
        elif name in _LONG and eq:
            flags.append((_LONG[name], joined))
        elif token[:2] in _SHORT and len(token) > 2:
            flags.append((token[:2], token[2:]))
        elif token == "-g":
            flags.append(("-C", "debuginfo=2"))
        elif token == "-O":
            flags.append(("-C", "opt-level=2"))
        else:
            flags.append((token, None))
    return flags


def unparse(flags: Sequence[Flag]) -> list[str]:
    """Back to arguments."""
    return [part for option, value in flags for part in ((option,) if value is None else (option, value))]


def _spelled(flag: Flag) -> str:
    return " ".join(unparse([flag]))


@dataclass(frozen=True)
class Merged:
    """The flags the eBPF build gets, and a line for each project flag buildbpf's overrode."""

    flags: list[str]
    overridden: tuple[str, ...] = ()


def _refusal(flag: Flag) -> str | None:
    """Why a project flag cannot work in an eBPF build, or None."""
    option, value = flag
    if option != "-C" or value is None:
        return None
    key, _, arg = value.partition("=")
    if key in _LINKER_KEYS:
        return f"`{key}` is for host linkers; eBPF objects are linked by the bpf-linker buildbpf passes"
    if key in ("link-arg", "link-args"):
        host = [a for a in arg.split() if a.startswith("-") and not a.startswith("--")]
        if host:
            return f"`{host[0]}` is a host linker option: bpf-linker refuses it (PITFALLS #11)"
    if key == "target-cpu" and arg not in BPF_CPUS:
        return f"`{arg}` is not a BPF CPU (LLVM's BPF backend knows {', '.join(BPF_CPUS)})"
    if key == "panic" and arg != "abort":
        return "BPF has no unwinding: eBPF builds need panic=abort (PITFALLS #6)"
    return None


def merge(
    ours: Sequence[str], project: Sequence[ConfigFlags], profile: Mapping[str, str], *, crate: str
) -> Merged:
    """buildbpf's flags, then the project's that do not conflict with them or repeat one.

    A `-C` key or `--cfg` name buildbpf sets (or its release profile does) keeps buildbpf's
    value; the project's other value is dropped and named in `overridden`. Flags that cannot
    work for BPF raise a ConfigError naming the file, the key and the fix.
    """
    mine = parse(ours)
    keys = {v.partition("=")[0]: v for o, v in mine if o == "-C" and v is not None}
    keys |= {k: f"{k}={v}" for k, v in profile.items()}
    cfgs = {(v or "").partition("=")[0]: v for o, v in mine if o == "--cfg"}
    seen = set(mine)
    kept: list[Flag] = []
    overridden: list[str] = []
    for source in project:
        for flag in parse(source.flags):
            option, value = flag
            if why := _refusal(flag):
                raise ConfigError(
                    f"{source.path}: `{source.key}` has `{_spelled(flag)}`, which cannot work in the "
                    f"eBPF build of {crate}: {why}",
                    fix=f"remove it from {source.path}"
                    + (" (for host targets, put it under [target.<host triple>] rustflags)"
                       if source.key.startswith("build.") else ""),
                )  # fmt: skip
            if flag in seen:
                continue  # a project's own `-C debuginfo=2 -C link-arg=--btf`: passed once
            key = (value or "").partition("=")[0]
            mine_value = keys.get(key) if option == "-C" and key not in ("link-arg", "link-args") else None
            if option == "--cfg":
                mine_value = cfgs.get(key)
            if mine_value is not None:
                if mine_value != value and key != "panic":
                    overridden.append(f"{_spelled(flag)} ({source.path}; buildbpf uses {mine_value})")
                continue
            seen.add(flag)
            kept.append(flag)
    return Merged([*ours, *unparse(kept)], tuple(overridden))
