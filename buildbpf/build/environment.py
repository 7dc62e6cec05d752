"""The `BUILDBPF_*` environment variables: which ones buildbpf reads, and how booleans are read.

Kept free of pydantic and typer: the CLI checks the environment before every command.
"""

from __future__ import annotations

from collections.abc import Mapping

from buildbpf.errors import ConfigError

_ENV_BOOL = {
    "1": True,
    "true": True,
    "yes": True,
    "on": True,
    "0": False,
    "false": False,
    "no": False,
    "off": False,
}


def env_flag(environ: Mapping[str, str], name: str) -> bool | None:
    """A boolean variable (1/0, true/false, yes/no, on/off); None when unset or empty."""
    raw = environ.get(name)
    if not raw:
        return None
    if raw.strip().lower() not in _ENV_BOOL:
        raise ConfigError(
            f"{name}={raw!r} is not a boolean", fix=f"set {name} to 1/0 or true/false, or unset it"
        )
    return _ENV_BOOL[raw.strip().lower()]


# Every variable a user sets for buildbpf (README); any other BUILDBPF_* is a typo, except the
# one buildbpf sets for userspace builds and the one its test suite reads.
USER_VARIABLES = (
    "BUILDBPF_TARGETS", "BUILDBPF_BTF", "BUILDBPF_CPU", "BUILDBPF_TOOLCHAIN", "BUILDBPF_BPF_LINKER",
    "BUILDBPF_RUSTC", "BUILDBPF_CARGO", "BUILDBPF_CARGO_TIMEOUT", "BUILDBPF_NO_REPLAY", "BUILDBPF_HOME",
    "BUILDBPF_CACHE_DIR", "BUILDBPF_RUNNER", "BUILDBPF_WRITE_CONFIG",
)  # fmt: skip
KNOWN_VARIABLES = (*USER_VARIABLES, "BUILDBPF_OBJECTS", "BUILDBPF_UPDATE_GOLDEN")


def unknown_variables(environ: Mapping[str, str]) -> list[str]:
    """One line per `BUILDBPF_*` variable buildbpf does not read (with a did-you-mean):
    `BUILDBPF_TARGET=bpfeb` would otherwise change nothing, silently."""
    lines = []
    for name in sorted(environ):
        if not name.startswith("BUILDBPF_") or name in KNOWN_VARIABLES:
            continue
        import difflib  # only when there is a typo to name: startup stays lean

        guess = difflib.get_close_matches(name, KNOWN_VARIABLES, n=1)
        hint = f"; did you mean {guess[0]}?" if guess else f" (buildbpf reads {', '.join(USER_VARIABLES)})"
        lines.append(f"{name} is not a buildbpf variable and changes nothing{hint}")
    return lines
