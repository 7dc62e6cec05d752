"""Recording a build for the no-op replay (build/replay.py replays it).

The full path starts a `Recorder` before the build; a build that ends clean (no file
written, no warning) saves its cargo calls (`call_record`, one per planned `Command`),
what it printed, and the stat of every file its plan came from (`replay_inputs`).
"""

from __future__ import annotations

import contextlib
import logging
import marshal
import os
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from buildbpf import __version__
from buildbpf.build.replay import FORMAT, Handover, eligible, environment, record_path, stat_of

if TYPE_CHECKING:
    from buildbpf._process import Command
    from buildbpf.build.context import Context
    from buildbpf.build.layout import Published
    from buildbpf.build.steps import BuildPlan

# An input modified this close to the start of the build that read it may have changed
# again within the same timestamp tick: do not trust its stat (git's "racily clean").
RACY_NS = 1_000_000_000
KEEP = 200  # records kept in the cache


def call_record(command: Command, *, what: str, gate: bool, outputs: Sequence[str] = ()) -> dict[str, object]:
    """One recorded cargo call, made from the `Command` the plan ran.

    `what` names the build for an error message; `gate`: a unit cargo rebuilt means an
    object to verify, so hand over to the full path; `outputs`: files that must be
    unchanged after the call. `echo` is the `+ ...` line the full path printed.
    """
    return {
        "argv": list(command.argv),
        "cwd": str(command.cwd),
        "env_set": dict(command.env_set),
        "env_remove": list(command.env_remove),
        "echo": command.shell_line(),
        "what": what,
        "gate": gate,
        "outputs": [(path, stat_of(path)) for path in outputs],
    }


class Recorder:
    """Started when a replayable build begins on the full path; saves the record if it ends clean."""

    def __init__(self, cwd: str, argv: Sequence[str]) -> None:
        self.cwd = cwd
        self.argv = list(argv)
        self.started_ns = time.time_ns()
        self.warnings = 0  # a build that warned is not replayed: the warning would be lost
        self._logger = logging.getLogger("buildbpf")
        self._logger.addFilter(self._count)

    def _count(self, record: logging.LogRecord) -> bool:
        if record.levelno >= logging.WARNING:
            self.warnings += 1
        return True

    def close(self) -> None:
        """Stop counting warnings."""
        self._logger.removeFilter(self._count)

    def save(
        self,
        *,
        inputs: Iterable[str],
        calls: Sequence[dict[str, object]],
        prelude: Sequence[str],
        stdout: str,
    ) -> bool:
        """Write the record; False (and nothing written) if an input changed while the build ran."""
        from buildbpf._fs import write_optional

        if self.warnings:
            self._logger.debug("not recorded for a replay: the build warned")
            return False
        fingerprints = [(path, stat_of(path)) for path in dict.fromkeys(inputs)]
        racy = [path for path, fp in fingerprints if fp is not None and fp[0] >= self.started_ns - RACY_NS]
        if racy:
            self._logger.debug("not recorded for a replay: %s changed within a second of this build", racy[0])
            return False
        record = {
            "format": FORMAT,
            "version": __version__,
            "cwd": self.cwd,
            "argv": self.argv,
            "env": environment(os.environ),
            "inputs": fingerprints,
            "prelude": list(prelude),
            "calls": list(calls),
            "stdout": stdout,
        }
        path = Path(record_path(self.cwd, self.argv))
        # the record only saves time: an unwritable or full cache costs the next build a plan
        if not write_optional(path, marshal.dumps(record), "the replay record"):
            return False
        _prune(path.parent)
        return True


def _prune(directory: Path) -> None:
    """Keep the KEEP newest records (one per workspace and argument list ever built)."""

    def newest_first(record: Path) -> int:
        try:
            return -record.stat().st_mtime_ns
        except OSError:  # pruned by a concurrent build
            return 0

    try:
        records = sorted(directory.glob("*.marshal"), key=newest_first)
        for stale in records[KEEP:]:
            stale.unlink(missing_ok=True)
    except OSError as exc:  # pruning only saves space
        logging.getLogger("buildbpf").debug("old replay records not pruned: %s", exc)


@dataclass(frozen=True)
class Invocation:
    """What the command line hands a build: the recorder for the next replay, and what this
    process's replay did before it handed over (when buildbpf started, the calls it ran)."""

    recorder: Recorder | None = None
    handover: Handover | None = None


def begin(argv: Sequence[str]) -> Recorder | None:
    """Forget the record of this build (it is about to be redone) and start a new one."""
    if not eligible(argv, os.environ):
        return None
    try:
        cwd = str(Path.cwd())
    except OSError:  # a directory deleted under the shell: nothing to record
        return None
    with contextlib.suppress(OSError):  # no record, or none that can be removed
        Path(record_path(cwd, argv)).unlink()
    return Recorder(cwd, argv)


def replay_inputs(context: Context, cwd: Path) -> list[str]:
    """Every file whose change could change the plan: what a no-op replay must stat first.

    Missing files count too (one that appears later, such as a rust-toolchain.toml or a
    bpf-linker earlier in PATH, changes the plan).
    """
    import buildbpf
    from buildbpf.cargo.config_file import config_chain
    from buildbpf.toolchain import resolution_inputs
    from buildbpf.toolchain.pin import TOOLCHAIN_FILES

    workspace = context.workspace
    files: list[Path] = [workspace.root / "Cargo.lock", workspace.root / "buildbpf.toml"]
    # where cargo finds the workspace and its config, and rustup a toolchain pin
    for start in dict.fromkeys([cwd, workspace.root, *(c.manifest.parent for c in workspace.crates)]):
        for directory in (start, *start.parents):
            files += [directory / "Cargo.toml", *(directory / name for name in TOOLCHAIN_FILES)]
        files += config_chain(start)
    files += [c.manifest for c in workspace.crates]
    # a new member under a glob such as `crates/*`
    files += [c.manifest.parent.parent for c in workspace.crates if c.manifest.parent != workspace.root]
    for toolchain in (context.toolchain, *context.crate_toolchains.values()):
        files += resolution_inputs(toolchain)
    # buildbpf itself: an upgrade may plan differently
    files += sorted(Path(buildbpf.__file__).parent.rglob("*.py"))
    return [str(f) for f in dict.fromkeys(files)]


def replay_calls(plan: BuildPlan, objects: Sequence[Published]) -> list[dict[str, object]]:
    """The cargo calls of a finished build, as the replay record keeps them."""
    calls = []
    for step in plan.ebpf:
        built = [o for o in objects if o.crate in step.crates and o.target == step.target.value]
        outputs = [str(p) for o in built for p in (o.source, o.path) if p is not None]
        calls.append(call_record(step.call, what=step.what, gate=True, outputs=outputs))
    if plan.userspace is not None:
        # gated: a rebuilt binary may embed an object this build did not verify
        calls.append(call_record(plan.userspace.call, what=plan.userspace.what, gate=True))
    return calls
