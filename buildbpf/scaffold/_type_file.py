"""The schema of a program type's `type.toml` (see templates/README.md), checked with pydantic."""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Callable
from typing import Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator, model_validator

from buildbpf.scaffold.option_rules import ONE_OF, RULES, OptionRule, rule_named

# What a program attaches to.
AttachKind = Literal[
    "interface", "cgroup", "kernel-function", "btf-function", "lsm-hook", "perf-event",
    "tracepoint", "raw-tracepoint", "btf-tracepoint", "user-function", "sockmap", "socket",
]  # fmt: skip
# An option's key is `-o KEY=...` on the command line and `options.KEY` in the templates.
_KEY = re.compile(r"[a-z][a-z0-9_]{0,63}")


class OptionEntry(BaseModel):
    """One `[options.KEY]` table."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    rule: str = Field(description=f"What the value must be: {', '.join(RULES)} or {ONE_OF}.")
    choices: tuple[str, ...] = Field((), description=f"The accepted values, with rule = {ONE_OF!r}.")
    help: str = Field(description="What the option means.")
    default: str | None = Field(None, description="The value without `-o KEY=...`.")
    default_syscall: str | None = Field(
        None,
        pattern=r"^[a-z_][a-z0-9_]{0,63}$",
        description="Instead of `default`: this syscall's wrapper on the running arch (__x64_sys_NAME).",
    )

    @field_validator("rule")
    @classmethod
    def _known_rule(cls, rule: str) -> str:
        if rule != ONE_OF and rule not in RULES:
            known = [*RULES, ONE_OF]
            guess = difflib.get_close_matches(rule, known, n=1)
            hint = f"; did you mean {guess[0]!r}?" if guess else ""
            raise ValueError(f"unknown rule {rule!r}{hint} (rules: {', '.join(known)})")
        return rule

    @field_validator("choices")
    @classmethod
    def _choices_with_one_of(cls, choices: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        one_of = info.data.get("rule") == ONE_OF
        if one_of and not choices:
            raise ValueError(f"rule {ONE_OF!r} needs a non-empty `choices` list")
        if choices and not one_of:
            raise ValueError(f"`choices` belongs to rule {ONE_OF!r} only")
        return choices

    @model_validator(mode="after")
    def _one_default(self) -> Self:
        if (self.default is None) == (self.default_syscall is None):
            raise ValueError("give exactly one of `default` and `default_syscall`")
        rule = self.option_rule()
        if self.default is not None and not rule.accepts(self.default):
            raise ValueError(f"default {self.default!r} is not {rule.what}: {rule.rule}")
        return self

    def option_rule(self) -> OptionRule:
        """The OptionRule its `rule` (and `choices`) name."""
        return rule_named(self.rule, self.choices)

    def default_value(self, syscall_symbol: Callable[[str], str]) -> str:
        """The default: `default`, or the running arch's wrapper of `default_syscall`."""
        if self.default_syscall is not None:
            return syscall_symbol(self.default_syscall)
        assert self.default is not None  # _one_default
        return self.default


class TypeFile(BaseModel):
    """A program type's `type.toml`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    summary: str = Field(description="One line for `buildbpf init --list`.")
    needs: str = Field("", description="What the kernel needs to attach it, if anything special.")
    section: str = Field(
        description="The ELF section aya-ebpf's macro gives it; `{KEY}` stands for an option's value."
    )
    attach: AttachKind = Field(description="What the program attaches to.")
    aya_program: str = Field(description="The aya::programs type the loader uses, e.g. `KProbe`.")
    order: int = Field(100, description="Position in `--list` (then by name).")
    options: dict[str, OptionEntry] = Field({}, description="The type's `-o KEY=VALUE` options.")

    @field_validator("options")
    @classmethod
    def _option_keys(cls, options: dict[str, OptionEntry]) -> dict[str, OptionEntry]:
        for key in options:
            if not _KEY.fullmatch(key):
                raise ValueError(f"option {key!r}: a key is lowercase letters, digits and `_`")
        return options

    @model_validator(mode="after")
    def _section_names_options(self) -> Self:
        for field in section_fields(self.section):
            if field not in self.options:
                known = ", ".join(self.options) or "none"
                raise ValueError(f"section: `{{{field}}}` names no option (options: {known})")
        return self


def section_fields(section: str) -> set[str]:
    """The `{KEY}` names a `section` uses."""
    try:
        return {field for _, field, _, _ in string.Formatter().parse(section) if field is not None}
    except ValueError as exc:  # an unmatched `{`
        raise ValueError(f"section: {exc}") from exc


def known_keys(where: tuple[str | int, ...]) -> list[str]:
    """The keys allowed in the table at `where` (a pydantic error location)."""
    model = OptionEntry if where[:1] == ("options",) else TypeFile
    return list(model.model_fields)
