"""`buildbpf run`: which userspace binary a build made, and how it is started. Pure decisions;
`cli/run.py` builds first and hands the command to `_process.exec_replace`.

Loading eBPF needs privileges, so the binary runs through the `runner` setting (like cargo's
`target.<triple>.runner`): directly as root, else `sudo -E` (the environment kept, so
`RUST_LOG` and friends reach the program), unless `runner` says otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from buildbpf._process import Command
from buildbpf.build.settings import Source, Value
from buildbpf.cargo.workspace import Crate, Role, Workspace
from buildbpf.errors import ConfigError

DEFAULT_RUNNER = ("sudo", "-E")


def runner(configured: Value, euid: int) -> tuple[tuple[str, ...], str]:
    """The runner's argv prefix, and the one line that says how the binary is started."""
    if configured.source is not Source.DEFAULT and configured.value is not None:
        prefix = tuple(configured.value)
        how = " ".join(prefix) if prefix else "directly"
        return prefix, f"running {how} (runner from {configured.origin})"
    if euid == 0:
        return (), "running as root, directly (set `runner` in buildbpf.toml or BUILDBPF_RUNNER to change)"
    return DEFAULT_RUNNER, (
        "not root: running with `sudo -E`, since loading eBPF needs privileges "
        "(set `runner` in buildbpf.toml or BUILDBPF_RUNNER to change)"
    )


def choose_binary(
    workspace: Workspace, packages: Sequence[str], bin_name: str | None = None
) -> tuple[Crate, str]:
    """The userspace crate and bin `run` starts: the one of `-p` (or `--bin`), or the only one;
    without `-p`, among several, the only ones of crates that depend on aya (an xtask does not)."""
    selected = workspace.select(packages)
    for crate in selected:
        if crate.role is Role.EBPF or crate.outside is not None:
            raise ConfigError(
                f"-p {crate.name}: an eBPF crate does not run by itself; a userspace crate loads it",
                fix="name the userspace crate that loads it with -p, or leave -p out",
            )
    crates = [c for c in (selected or workspace.userspace()) if c.bins]
    found = [(c, b) for c in crates for b in c.bins if bin_name is None or b == bin_name]
    names = ", ".join(f"{c.name}:{b}" for c in crates for b in c.bins) or "none"
    loaders = [(c, b) for c, b in found if c.loads_ebpf]
    if not selected and len(found) > 1 and loaders:  # an xtask, a CLI helper: not the program
        found = loaders
    if not found:
        raise ConfigError(
            f"no userspace binary to run{f' called {bin_name}' if bin_name else ''} "
            f"(userspace bins: {names})",
            fix="add a [[bin]] (src/main.rs) to a userspace crate"
            if names == "none"
            else "name one of them with -p CRATE or --bin NAME",
        )
    if len(found) > 1:
        raise ConfigError(
            f"several userspace binaries could run: {names}",
            fix="choose one with -p CRATE (and --bin NAME when a crate has several)",
        )
    return found[0]


def binary_path(workspace: Workspace, bin_name: str, *, release: bool, triple: str, host: str) -> Path:
    """Where cargo put the bin: `<target-dir>[/<triple>]/<debug|release>/<bin>`."""
    base = workspace.target_dir if triple == host else workspace.target_dir / triple
    return base / ("release" if release else "debug") / bin_name


def run_command(prefix: Sequence[str], binary: Path, args: Sequence[str], cwd: Path) -> Command:
    """The command that starts the binary (in the user's directory, as `cargo run` does)."""
    return Command((*prefix, str(binary), *args), cwd)
