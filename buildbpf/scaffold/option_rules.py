"""What a program option's value must be, by the name a `type.toml` gives it (`rule = "path"`).

Values end up in Rust source (string literals, attribute arguments, comments), so `init`
accepts only what the option's rule allows (issue #11, item 6). The rules stay in Python:
a pattern alone cannot say everything (`..`, a number's range).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_U64_MAX = 2**64 - 1


@dataclass(frozen=True)
class OptionRule:
    """What one option's value must be."""

    what: str  # "an interface name"
    rule: str  # the rule in words, for the error message
    pattern: str | None = None  # the whole value must match it
    choices: tuple[str, ...] = ()
    extra: Callable[[str], bool] | None = None  # a further check the pattern cannot express

    def accepts(self, value: str) -> bool:
        """Whether `value` follows the rule."""
        if self.choices and value not in self.choices:
            return False
        if self.pattern is not None and re.fullmatch(self.pattern, value) is None:
            return False
        return self.extra is None or self.extra(value)


def _printable_path(value: str) -> bool:
    # No control characters, line breaks or lone surrogates (undecodable bytes from argv):
    # any of those in a path is a mistake or an attack.
    return 0 < len(value) <= 4096 and value.isprintable()


def _positive_u64(value: str) -> bool:
    return 1 <= int(value) <= _U64_MAX


def one_of(*choices: str) -> OptionRule:
    """A rule that accepts exactly `choices` (`rule = "one-of"` with `choices = [...]`)."""
    listed = ", ".join(choices)
    return OptionRule(f"one of {listed}", f"must be one of: {listed}", choices=choices)


# The kernel's dev_valid_name() allows more (anything but `/`, `:` and white space), but
# names outside this set do not occur in practice and need quoting everywhere.
INTERFACE = OptionRule(
    "an interface name",
    "1 to 15 characters from letters, digits and `_ . - @ +`, not `.` or `..`",
    pattern=r"[A-Za-z0-9_.@+-]{1,15}",
    extra=lambda value: value not in (".", ".."),
)
# /proc/kallsyms names: C identifiers with compiler suffixes such as `.isra.0`, `.cold`.
KERNEL_FUNCTION = OptionRule(
    "a kernel function name",
    "a C identifier, optionally followed by `.suffix` parts as in /proc/kallsyms "
    "(e.g. do_unlinkat, tcp_v4_connect.cold), at most 511 characters",
    pattern=r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z0-9_]+)*",
    extra=lambda value: len(value) <= 511,
)
IDENTIFIER = OptionRule(
    "a kernel identifier",
    "a C identifier: a letter or `_`, then letters, digits or `_` (at most 128 characters)",
    pattern=r"[A-Za-z_][A-Za-z0-9_]{0,127}",
)
# tracefs categories are TRACE_SYSTEM names, e.g. `syscalls`, `9p`, `xhci-hcd`.
TRACEPOINT_CATEGORY = OptionRule(
    "a tracepoint category",
    "letters, digits, `_` and `-`, not starting with `-` (at most 128 characters), "
    "a directory under events/ in tracefs",
    pattern=r"[A-Za-z0-9_][A-Za-z0-9_-]{0,127}",
)
USER_SYMBOL = OptionRule(
    "a symbol name",
    "a symbol of the binary's symbol table: letters, digits and `_ . $ @`, not starting "
    "with a digit or `@` (at most 1024 characters)",
    pattern=r"[A-Za-z_.$][A-Za-z0-9_.$@]{0,1023}",
)
PATH = OptionRule(
    "a path",
    "1 to 4096 printable characters (no control characters or line breaks)",
    extra=_printable_path,
)
POSITIVE_INTEGER = OptionRule(
    "a positive integer",
    f"a whole number from 1 to {_U64_MAX}, digits only",
    pattern=r"[0-9]{1,20}",
    extra=_positive_u64,
)

# The names a type.toml uses (`rule = "kernel-function"`); "one-of" takes `choices` instead.
RULES: dict[str, OptionRule] = {
    "interface": INTERFACE,
    "kernel-function": KERNEL_FUNCTION,
    "identifier": IDENTIFIER,
    "tracepoint-category": TRACEPOINT_CATEGORY,
    "user-symbol": USER_SYMBOL,
    "path": PATH,
    "positive-integer": POSITIVE_INTEGER,
}
ONE_OF = "one-of"


def rule_named(rule: str, choices: tuple[str, ...] = ()) -> OptionRule:
    """The rule a type.toml names: one of RULES, or `one-of` with its `choices`."""
    return one_of(*choices) if rule == ONE_OF else RULES[rule]
