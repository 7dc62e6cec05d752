"""How `--help` names option values: `--package <PACKAGE>` as cargo does, flags with none.

typer labels a value by its Python type (`<str>`, `<list[str]>`) and, in its rich panels, a
flag as `<bool>`; buildbpf uses click's plain help (docstrings wrapped by paragraph, never
mid-sentence) and names each value after its option.
"""

from __future__ import annotations

import functools
from typing import Any


def name_values(command: Any) -> Any:
    """Give every value-taking option and argument of `command` (and its subcommands) a
    metavar from its name; choices keep their list (`<human|json>`)."""
    # typer vendors its own click (typer._click): duck-typed, not imported
    for param in command.params:
        choice = getattr(getattr(param, "type_descriptor", None), "is_choice", False) or hasattr(
            getattr(param, "type", None), "choices"
        )
        if param.metavar is not None or choice or param.name is None:
            continue
        if param.param_type_name == "argument":
            param.metavar = param.name.upper()
            if hasattr(param, "display_type_rich"):  # typer >= 0.20 adds `<path>` after `PATH`
                param.display_type_rich = lambda ctx: None
            if hasattr(param, "_usage_display_name"):  # typer >= 0.2x writes a required one `{PATH}`
                param._usage_display_name = functools.partial(_usage_name, param)
        elif not getattr(param, "is_flag", False) and not getattr(param, "count", False):
            param.metavar = f"<{param.name.upper()}>"
    for sub in getattr(command, "commands", {}).values():
        name_values(sub)
    return command


def _usage_name(param: Any) -> str:
    """An argument in the usage line as click writes it: `PATH` when required, `[ARGS]...`."""
    name = str(param.metavar or param.name.upper())
    name = name if param.required else f"[{name}]"
    return f"{name}..." if param.nargs != 1 else name
