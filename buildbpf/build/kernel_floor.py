"""`min_kernel`: the oldest kernel the user deploys to, turned into the bpf-linker settings
such a kernel needs. Each choice fills only a `linker` key the user left unset, and says why
(`buildbpf config` shows it as the value's origin).

Kernel facts (docs/pitfalls.md #19): the BPF ISA v2 (more conditional jumps) needs 4.14, v3
(32-bit jumps and ALU) 5.1, v4 (signed division, sign extension) 6.6; BPF-to-BPF function
calls arrived in 4.16 and bounded loops in 5.3.
"""

from __future__ import annotations

import re
from typing import Any

from buildbpf.build.settings import Cpu, Effective, LinkerOptions, Source, Value

_SERIES = re.compile(r"^\s*(\d+)\.(\d+)")


def series(spec: str | None) -> tuple[int, int] | None:
    """`"5.10"` -> (5, 10); None for what names no version (`latest`, `lts`, a path)."""
    match = _SERIES.match(spec or "")
    return (int(match[1]), int(match[2])) if match else None


def linker_needs(version: tuple[int, int]) -> list[tuple[str, Any, str]]:
    """(linker key, value, why) for a kernel of this version; empty from 6.6 on."""
    needs: list[tuple[str, Any, str]] = []
    if version < (4, 14):
        needs.append(("cpu", Cpu.V1, "the v2 ISA needs 4.14"))
    elif version < (5, 1):
        needs.append(("cpu", Cpu.V2, "the v3 ISA needs 5.1"))
    elif version < (6, 6):
        needs.append(("cpu", Cpu.V3, "the v4 ISA needs 6.6"))
    if version < (5, 3):
        needs.append(("unroll_loops", True, "bounded loops need 5.3"))
    if version < (4, 16):
        needs.append(("ignore_inline_never", True, "BPF-to-BPF calls need 4.16"))
    return needs


def apply(effective: Effective) -> Effective:
    """`effective` with the linker keys `min_kernel` needs filled in (where left unset)."""
    floor = effective.values.get("min_kernel")
    version = series(floor.value if floor is not None else None)
    link = effective.values.get("linker")
    if floor is None or version is None or link is None:
        return effective
    options: LinkerOptions = link.value
    chosen = [(key, value, why) for key, value, why in linker_needs(version) if getattr(options, key) is None]
    if not chosen:
        return effective
    update = {key: value for key, value, _ in chosen}
    reasons = ", ".join(f"{key} = {_shown(value)} ({why})" for key, value, why in chosen)
    origin = f"min_kernel = {floor.value} ({floor.origin}): {reasons}"
    if link.source is not Source.DEFAULT:
        origin = f"{link.origin}; {origin}"
    merged = Value(options.model_copy(update=update), max(link.source, floor.source), origin)
    return Effective(effective.crate, {**effective.values, "linker": merged})


def _shown(value: object) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)
