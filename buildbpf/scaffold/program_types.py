"""The program types `buildbpf init` can scaffold: one folder each under `templates/programs/`.

A folder holds `type.toml` (summary, section, attach kind, Aya program type, and the options
with their defaults, rules and help), `ebpf.rs.j2` (the eBPF function) and `user.rs.j2` (the
userspace attach code). Adding a program type is adding a folder: it is found, validated and
offered at init time, with no Python change. The option rules a type.toml names stay in
Python (`option_rules.RULES`).
"""

from __future__ import annotations

import difflib
import functools
import platform
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from pydantic import ValidationError

from buildbpf.errors import ConfigError
from buildbpf.objects.sections import SYSCALL_WRAPPERS
from buildbpf.scaffold._type_file import AttachKind, TypeFile, known_keys
from buildbpf.scaffold.option_rules import OptionRule
from buildbpf.scaffold.templates import templates_root

TYPE_FILE = "type.toml"
_TEMPLATES = ("ebpf.rs.j2", "user.rs.j2")
# A type's folder name is its name: `-t NAME`, and `programs/NAME/` in the templates.
_NAME = re.compile(r"[a-z][a-z0-9_]{0,63}")


@dataclass(frozen=True)
class ProgramType:
    """One scaffoldable program type, as its folder's type.toml describes it."""

    name: str
    summary: str
    # the ELF section aya-ebpf's macro gives the program, `{option}` standing for its value
    section: str
    attach: AttachKind
    aya_program: str  # the aya::programs type the loader converts it to, e.g. `KProbe`
    options: dict[str, str]  # option -> default
    help: dict[str, str]  # option -> what it means
    rules: dict[str, OptionRule]  # option -> what its value must be
    # why the running kernel may not attach it (shown by tests and `init --list`)
    needs: str
    templates: Path  # the templates tree it belongs to (`programs/NAME/` in it)


def syscall_symbol(syscall: str, arch: str | None = None) -> str:
    """The kernel symbol of a syscall's entry wrapper (x86_64: __x64_sys_NAME, 4.17+)."""
    arch = arch or platform.machine()
    prefix = SYSCALL_WRAPPERS.get(arch, "sys_")
    return prefix + syscall


def load_program_types(root: Path | None = None) -> dict[str, ProgramType]:
    """Every program type under `root/programs` (default: buildbpf's templates), in `--list`
    order: by each type.toml's `order`, then by name. A malformed folder is a ConfigError
    naming the file and the key."""
    return _load((root or templates_root()).resolve())


@functools.cache
def _load(root: Path) -> dict[str, ProgramType]:
    """Read once per process and tree: `init` and `--list` ask more than once."""
    programs = root / "programs"
    try:
        folders = sorted(p for p in programs.iterdir() if p.is_dir())
    except OSError as exc:
        raise ConfigError(f"cannot list the program types in {programs}: {exc.strerror}",
                          fix="reinstall buildbpf") from exc  # fmt: skip
    loaded = [_load_folder(folder, root) for folder in folders]
    loaded.sort(key=lambda item: (item[0], item[1].name))
    return {kind.name: kind for _, kind in loaded}


def _load_folder(folder: Path, root: Path) -> tuple[int, ProgramType]:
    """(its `order`, the type) of one folder; a ConfigError names what is wrong with it."""
    import tomllib

    path = folder / TYPE_FILE
    fix = f"correct {path} (templates/README.md describes its keys)"
    if not _NAME.fullmatch(folder.name):
        raise ConfigError(f"program type folder {folder}: the name must be lowercase letters, digits and "
                          "`_`, starting with a letter", fix=f"rename {folder}")  # fmt: skip
    for required in (TYPE_FILE, *_TEMPLATES):
        if not (folder / required).is_file():
            raise ConfigError(f"program type folder {folder} has no {required}",
                              fix=f"add {folder / required}")  # fmt: skip
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{path}: {exc}", fix=fix) from exc
    try:
        spec = TypeFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{path}: {_problems(exc)}", fix=fix) from exc
    options = {key: option.default_value(syscall_symbol) for key, option in spec.options.items()}
    kind = ProgramType(
        name=folder.name,
        summary=spec.summary,
        section=spec.section,
        attach=spec.attach,
        aya_program=spec.aya_program,
        options=options,
        help={key: option.help for key, option in spec.options.items()},
        rules={key: option.option_rule() for key, option in spec.options.items()},
        needs=spec.needs,
        templates=root,
    )
    return spec.order, kind


def _problems(error: ValidationError) -> str:
    """Each problem as `key: message`, unknown keys with a did-you-mean."""
    problems = []
    for item in error.errors():
        key = ".".join(str(part) for part in item["loc"])
        message = item["msg"].removeprefix("Value error, ")
        if item["type"] == "extra_forbidden":
            known = known_keys(item["loc"][:-1])
            guess = difflib.get_close_matches(str(item["loc"][-1]), known, n=1)
            hint = f"; did you mean `{guess[0]}`?" if guess else f" (known keys: {', '.join(known)})"
            message = f"unknown key{hint}"
        problems.append(f"{key}: {message}" if key else message)
    return "; ".join(problems)


def find_program_type(name: str, root: Path | None = None) -> ProgramType:
    """The program type called `name` (`-` and `_` alike), or a ConfigError with a did-you-mean."""
    types = load_program_types(root)
    key = name.replace("-", "_")
    if key in types:
        return types[key]
    guess = difflib.get_close_matches(key, list(types), n=1)
    hint = f"; did you mean `{guess[0]}`?" if guess else ""
    raise ConfigError(f"unknown program type {name!r}{hint}",
                      fix=f"use one of: {', '.join(types)}")  # fmt: skip


def options_for(kind: ProgramType, given: Mapping[str, str]) -> dict[str, str]:
    """The type's defaults overridden by `-o key=value`; unknown keys and values that break
    the option's rule are errors (the values are pasted into Rust source)."""
    for key, value in given.items():
        if key not in kind.options:
            guess = difflib.get_close_matches(key, list(kind.options), n=1)
            known = ", ".join(kind.options) or "none"
            hint = f"; did you mean `{guess[0]}`?" if guess else ""
            raise ConfigError(f"program type {kind.name} has no option {key!r}{hint} (options: {known})",
                              fix=f"see `buildbpf init --list` for the options of {kind.name}")  # fmt: skip
        rule = kind.rules[key]
        if not rule.accepts(value):
            shown = repr(value) if len(value) <= 80 else repr(value[:80]) + "..."
            raise ConfigError(
                f"-o {key}={shown} is not {rule.what} ({kind.name} option `{key}`): {rule.rule}",
                fix=f"pass -o {key}=VALUE with {rule.what}, e.g. -o {key}={kind.options[key]}",
            )
    return {**kind.options, **given}
