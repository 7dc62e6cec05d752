"""A small Rust tokenizer for tests: enough of the lexical grammar to tell whether rendered
source holds the string literals it should, and nothing else (no injected tokens).

It follows the Rust reference's lexical rules for comments, string/char literals and their
escapes, and splits everything else into identifiers, numbers and single punctuation
characters. Anything the real lexer would reject in a literal or comment raises LexError.
"""

from __future__ import annotations

import re
from dataclasses import dataclass


class LexError(ValueError):
    """The source is not lexically valid Rust."""


@dataclass(frozen=True)
class Token:
    """`kind` is comment, str, char, ident, number or punct; `value` is a string literal's
    decoded content, else the token's text."""

    kind: str
    value: str


_RAW_STRING = re.compile(r'[bc]?r#*"')
_SIMPLE_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "\\": "\\", "0": "\0", "'": "'", '"': '"'}


def _escape(src: str, i: int) -> tuple[str, int]:
    """Decode the escape starting at `src[i] == '\\'`; the character and the index after it."""
    if i + 1 >= len(src):
        raise LexError("unterminated escape")
    code = src[i + 1]
    if code in _SIMPLE_ESCAPES:
        return _SIMPLE_ESCAPES[code], i + 2
    if code == "x":
        digits = src[i + 2 : i + 4]
        if len(digits) != 2 or digits[0] not in "01234567" or digits[1] not in "0123456789abcdefABCDEF":
            raise LexError(f"bad \\x escape {digits!r}")
        return chr(int(digits, 16)), i + 4
    if code == "u":
        end = src.find("}", i)
        if src[i + 2 : i + 3] != "{" or end < 0:
            raise LexError("bad \\u escape")
        digits = src[i + 3 : end].replace("_", "")
        if not 1 <= len(digits) <= 6 or any(c not in "0123456789abcdefABCDEF" for c in digits):
            raise LexError(f"bad \\u escape {src[i:end + 1]!r}")
        value = int(digits, 16)
        if value > 0x10FFFF or 0xD800 <= value <= 0xDFFF:
            raise LexError(f"\\u escape {value:#x} is not a Unicode scalar value")
        return chr(value), end + 1
    raise LexError(f"unknown escape \\{code}")


def _string(src: str, i: int) -> tuple[str, int]:
    """Decode the (non-raw) string literal whose opening quote is `src[i]`."""
    out = []
    i += 1
    while True:
        if i >= len(src):
            raise LexError("unterminated string literal")
        char = src[i]
        if char == '"':
            return "".join(out), i + 1
        if char == "\r":
            raise LexError("bare CR in a string literal")
        if char == "\\":
            if src[i + 1 : i + 2] == "\n":  # line continuation: skip the newline and indentation
                i += 2
                while i < len(src) and src[i] in " \t\n\r":
                    i += 1
                continue
            decoded, i = _escape(src, i)
            out.append(decoded)
            continue
        out.append(char)
        i += 1


def _raw_string(src: str, i: int) -> tuple[str, int]:
    """Decode the raw string literal whose `r` is `src[i]`."""
    j = i + 1
    while j < len(src) and src[j] == "#":
        j += 1
    hashes = j - i - 1
    if src[j : j + 1] != '"':
        raise LexError("bad raw string")
    end = src.find('"' + "#" * hashes, j + 1)
    if end < 0:
        raise LexError("unterminated raw string")
    return src[j + 1 : end], end + 1 + hashes


def _ident_char(char: str) -> bool:
    return char == "_" or char.isalnum()


def _block_comment(src: str, i: int) -> tuple[Token, int]:
    depth, j = 1, i + 2
    while depth:
        if j >= len(src):
            raise LexError("unterminated block comment")
        if src.startswith("/*", j):
            depth, j = depth + 1, j + 2
        elif src.startswith("*/", j):
            depth, j = depth - 1, j + 2
        else:
            j += 1
    return Token("comment", src[i:j]), j


def _line_comment(src: str, i: int) -> tuple[Token, int]:
    end = src.find("\n", i)
    end = len(src) if end < 0 else end
    body = src[i:end].removesuffix("\r")
    if "\r" in body:
        raise LexError("bare CR in a comment")
    return Token("comment", body), end


def _char_or_lifetime(src: str, i: int) -> tuple[Token, int]:
    start = i + 1 if src[i] == "'" else i + 2  # 'x' or b'x'
    if src[start : start + 1] == "\\":
        value, j = _escape(src, start)
        if src[j : j + 1] != "'":
            raise LexError("unterminated char literal")
        return Token("char", value), j + 1
    if src[start + 1 : start + 2] == "'":
        return Token("char", src[start]), start + 2
    j = start  # a lifetime or label
    while j < len(src) and _ident_char(src[j]):
        j += 1
    return Token("ident", src[i:j]), j


def _word(src: str, i: int) -> tuple[Token, int]:
    """An identifier (raw ones too) or a number."""
    j = i
    if src[i].isdigit():
        while j < len(src) and (_ident_char(src[j]) or (src[j] == "." and src[j + 1 : j + 2].isdigit())):
            j += 1
        return Token("number", src[i:j]), j
    while j < len(src) and _ident_char(src[j]):
        j += 1
    if src[i:j] == "r" and src.startswith("#", j):  # raw identifier r#type
        j += 1
        while j < len(src) and _ident_char(src[j]):
            j += 1
    return Token("ident", src[i:j]), j


def _token(src: str, i: int) -> tuple[Token, int]:
    """The token that starts at `src[i]` (not white space) and the index after it."""
    char = src[i]
    if src.startswith("//", i):
        return _line_comment(src, i)
    if src.startswith("/*", i):
        return _block_comment(src, i)
    if char == '"' or (char in "bc" and src[i + 1 : i + 2] == '"'):
        value, j = _string(src, i if char == '"' else i + 1)
        return Token("str", value), j
    if _RAW_STRING.match(src, i):
        value, j = _raw_string(src, src.index("r", i))
        return Token("str", value), j
    if char == "'" or (char == "b" and src[i + 1 : i + 2] == "'"):
        return _char_or_lifetime(src, i)
    if _ident_char(char):
        return _word(src, i)
    if char.isspace():
        raise LexError(f"white space {char!r} Rust does not accept")
    return Token("punct", char), i + 1


def tokenize(src: str) -> list[Token]:
    """Split Rust source into tokens; LexError on anything the Rust lexer would reject."""
    tokens: list[Token] = []
    i = 0
    while i < len(src):
        if src[i] in " \t\n":
            i += 1
        elif src[i] == "\r":
            if src[i + 1 : i + 2] != "\n":
                raise LexError("bare CR")
            i += 1
        else:
            token, i = _token(src, i)
            tokens.append(token)
    return tokens
