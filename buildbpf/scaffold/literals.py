"""Escaping for values that reach generated files: the templates' filters.

Option values end up in Rust source (string literals, attribute arguments, comments) and in
a README's shell commands; they get there only through these functions.
"""

from __future__ import annotations

import re

from buildbpf.errors import ConfigError
from buildbpf.scaffold.names import RUST_KEYWORDS

_ESCAPES = {'"': '\\"', "\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t", "\0": "\\0"}


def rust_string(value: str) -> str:
    """`value` as a Rust string literal, quotes included (the templates' `rust_str` filter).

    The option rules already keep quotes, backslashes and control characters out of most
    values; this is the second line of defence, and what makes a path with `"` in it work.
    """
    out = ['"']
    for char in value:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif 0xD800 <= ord(char) <= 0xDFFF:  # a lone surrogate: no Rust string can hold it
            raise ConfigError(f"{value!r} holds a character that is not valid Unicode",
                              fix="pass a value without undecodable bytes")  # fmt: skip
        elif not char.isprintable():
            out.append(f"\\u{{{ord(char):x}}}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def rust_comment(value: str) -> str:
    """`value` made safe inside a `//` comment: a line break would end it (the `rust_comment` filter)."""
    return "".join(char if char.isprintable() else f"\\u{{{ord(char):x}}}" for char in value)


def rust_identifier(value: str) -> str:
    """`value` unchanged if it is a plain Rust identifier, else an error (the `rust_ident` filter)."""
    if not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", value) or value in RUST_KEYWORDS:
        raise ConfigError(f"{value!r} is not a Rust identifier", fix="pass a plain name")
    return value


def shell_word(value: str) -> str:
    """`value` quoted for a shell command line shown in the README (the `sh` filter)."""
    import shlex

    return shlex.quote(rust_comment(value))
