"""Which optional dependencies a build turns on, from a manifest's `[features]` table.

Some projects gate aya-build behind a feature (`build-ebpf = ["dep:aya-build"]`), embedding
a committed object when it is off (PITFALLS #34): whether aya-build runs, and so who builds
the eBPF crate, depends on the features of this build. Cargo's rules, for one package:

- `default` is on unless `--no-default-features`; `--features` names more (`a,b c`, or
  `PACKAGE/FEATURE` for a selected package);
- a feature turns on the features it lists; `dep:NAME` turns on the optional dependency NAME,
  as does `NAME/FEATURE`, while `NAME?/FEATURE` does not; an optional dependency that no
  `dep:` names is also a feature of its own name.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence


def requested(package: str, features: Iterable[str]) -> list[str]:
    """The `--features` values that name features of `package` (bare names, or `package/x`)."""
    names = [n for value in features for n in value.replace(",", " ").split()]
    return [n.split("/", 1)[1] if n.startswith(f"{package}/") else n for n in names if n.count("/") == 0
            or n.startswith(f"{package}/")]  # fmt: skip


def turns_on(
    table: Mapping[str, Sequence[str]], dependency: str, features: Iterable[str], *, default: bool = True
) -> bool:
    """Whether the optional `dependency` is on when `features` (and `default`) are asked for."""
    todo = [*(["default"] if default else []), *features]
    seen: set[str] = set()
    while todo:
        feature = todo.pop()
        if feature in seen:
            continue
        seen.add(feature)
        if feature in (f"dep:{dependency}", dependency) or feature.startswith(f"{dependency}/"):
            return True
        todo += table.get(feature, ())
    return False
