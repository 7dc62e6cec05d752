"""Where a key sits in TOML text, and pydantic's errors as `file:line: key: message (did you
mean ...)`: the config file's problems are named the way a user finds them in the file."""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from buildbpf.errors import ConfigError


def locate(text: str, key: tuple[str, ...]) -> int | None:
    """Best-effort line number of a dotted key in TOML text (tables, dotted keys, inline)."""
    lines = text.splitlines()
    table: tuple[str, ...] = ()
    header = re.compile(r"^\s*\[+\s*([^\]]+?)\s*\]+")
    assign = re.compile(r"^\s*([A-Za-z0-9_.\"'-]+?)\s*=")
    best: int | None = None
    for number, line in enumerate(lines, 1):
        if match := header.match(line):
            table = tuple(_split_key(match[1]))
            if table == key:
                return number
            if table[: len(key)] == key and best is None:
                best = number  # `[crate.x]` holds the unknown key `crate`
            continue
        if match := assign.match(line):
            full = (*table, *_split_key(match[1]))
            if full == key:
                return number
            if key[: len(full)] == full and best is None:
                best = number  # an inline table holding the key
    return best


def _split_key(raw: str) -> list[str]:
    return [
        part.strip().strip("\"'") for part in re.split(r"\.(?=(?:[^\"']*[\"'][^\"']*[\"'])*[^\"']*$)", raw)
    ]


def _submodel(annotation: Any) -> tuple[type[BaseModel] | None, bool]:
    """The model a field holds (`X`, `X | None` or `dict[str, X]`), and whether it is keyed."""
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        found = [_submodel(a) for a in args if a is not type(None)]
        return found[0] if found else (None, False)
    if typing.get_origin(annotation) is dict:
        return _submodel(args[1])[0], True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, False
    return None, False


def model_at(root: type[BaseModel], loc: tuple[Any, ...]) -> type[BaseModel]:
    """Which model a validation error location points into (for did-you-mean)."""
    model = root
    rest = list(loc[:-1])
    while rest:
        part = rest.pop(0)
        info = model.model_fields.get(str(part))
        inner, keyed = _submodel(info.annotation) if info is not None else (None, False)
        if inner is None:
            break
        if keyed and rest:
            rest.pop(0)  # the key, e.g. the crate name of `crates.NAME`
        model = inner
    return model


def format_validation(
    error: ValidationError, root: type[BaseModel], path: Path | None, text: str, prefix: tuple[str, ...]
) -> ConfigError:
    """One ConfigError listing every problem as `file:line: key: message (did you mean ...)`.

    `text` is the file's text, `prefix` the table the settings sit under in it.
    """
    lines = []
    first_fix = None
    for item in error.errors():
        loc = tuple(str(p) for p in item["loc"])
        dotted = ".".join(loc)
        where = path.name if path else "config"
        line = locate(text, (*prefix, *loc))
        position = f"{where}:{line}" if line else where
        if item["type"] == "extra_forbidden":
            known = list(model_at(root, tuple(item["loc"])).model_fields)
            guess = difflib.get_close_matches(loc[-1], known, n=1)
            hint = f"; did you mean `{guess[0]}`?" if guess else f"; known keys: {', '.join(known)}"
            lines.append(f"{position}: {dotted}: unknown key{hint}")
            if guess and first_fix is None:
                first_fix = f"rename `{loc[-1]}` to `{guess[0]}` in {path}"
        else:
            lines.append(f"{position}: {dotted}: {item['msg']}")
    return ConfigError(
        "invalid configuration:\n  " + "\n  ".join(lines),
        fix=first_fix or f"correct {path} (see `buildbpf schema` for every key)",
    )
