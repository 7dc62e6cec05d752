"""Run a build plan: write the crates' cargo configs, build and gate every eBPF crate, publish
the objects, then build userspace and gate what it embeds."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from buildbpf._process import Command, Completed, run, run_command
from buildbpf.build import precedence
from buildbpf.build.advice import cargo_failure
from buildbpf.build.aya_build import check_embedded, gate_aya_build
from buildbpf.build.layout import Published, publish, record_built
from buildbpf.build.steps import BuildOptions, BuildPlan, ConfigStep, EbpfStep
from buildbpf.cargo import config_file, gitdeps, messages

if TYPE_CHECKING:
    from buildbpf.build.context import Context

log = logging.getLogger("buildbpf")


@dataclass
class Result:
    """What a build did."""

    configs: list[config_file.ConfigOutcome] = field(default_factory=list)
    objects: list[Published] = field(default_factory=list)
    userspace: tuple[str, ...] = ()
    binaries: tuple[Path, ...] = ()  # the userspace executables cargo reported

    def as_json(self) -> dict[str, Any]:
        """The result as `--message-format json` prints it."""
        return {
            "configs": [{"path": str(c.path), "status": str(c.status)} for c in self.configs],
            "objects": [
                {
                    "crate": o.crate,
                    "target": o.target,
                    "bin": o.bin,
                    "path": str(o.path),
                    "sha256": o.sha256,
                    "size": o.size,
                    "programs": list(o.programs),
                    "license": o.license,
                }
                for o in self.objects
            ],
            "userspace": list(self.userspace),
            "binaries": [str(b) for b in self.binaries],
        }


def prepare_sources(context: Context, options: BuildOptions | None = None) -> None:
    """Fetch git dependencies with another cargo when the build cargo cannot (PITFALLS #27);
    the build's `--locked`, `--offline` and `--frozen` apply to that fetch too."""
    if context.git_urls:
        rust = context.toolchain.rust
        flags = [] if options is None else options.fetch_flags()
        gitdeps.prefetch(rust.cargo, rust.rustc, context.cargo_roots, list(context.git_urls), flags)


def _cargo(call: Command, what: str, timeout: float) -> Completed:
    # stdout holds JSON messages; the human output is on stderr
    done = run_command(call, echo_stdout=False, check=False, timeout=timeout)
    if done.returncode != 0:
        raise cargo_failure(what, done.returncode, done.stdout + done.stderr)
    return done


def tracked_by_git(path: Path) -> bool:
    """Whether `path` exists and is in its git repository's index."""
    import shutil

    git = shutil.which("git")
    if git is None or not path.is_file():
        return False
    done = run([git, "ls-files", "--error-unmatch", "--", path.name], cwd=path.parent,
               echo=False, stream=False, check=False)  # fmt: skip
    return done.returncode == 0


def write_configs(steps: tuple[ConfigStep, ...], *, dry_run: bool) -> list[config_file.ConfigOutcome]:
    """Write (or, with `dry_run`, only compare) each eBPF crate's `.cargo/config.toml`."""
    outcomes = []
    for step in steps:
        path = step.directory / ".cargo" / config_file.CONFIG_NAMES[0]
        if tracked_by_git(path):
            # a committed config stays as the project wrote it (PITFALLS #28): every setting
            # buildbpf needs is on its command line anyway
            log.info("%s is tracked by git: left as it is (buildbpf passes its settings to cargo)", path)
            continue
        outcome = config_file.apply(step.directory, step.keys, dry_run=dry_run)
        outcomes.append(outcome)
        if outcome.status is not config_file.ConfigStatus.UNCHANGED and not dry_run:
            log.info("%sd %s", outcome.status, outcome.path)
        for kept in outcome.kept_user_values:
            # not a problem (the command line wins), and aya-template's own config has one
            log.info(
                "%s: keeping your %s; buildbpf passes its own value on the command line", outcome.path, kept
            )
    return outcomes


def _say_overridden(step: EbpfStep, said: set[str]) -> None:
    """Name, once, the project's bpf rustflags buildbpf's own flags replaced in this call."""
    lines = [line for line in step.overridden if line not in said]
    said.update(lines)
    if lines:
        log.info("%s: your rustflags replaced by buildbpf's: %s", step.what, "; ".join(lines))


def execute(
    plan: BuildPlan,
    *,
    dry_run: bool = False,
    timeout: float = precedence.DEFAULT_CARGO_TIMEOUT,
    on_object: Callable[[Published], None] | None = None,
) -> Result:
    """Write configs, build and gate every eBPF crate, then build userspace (each cargo call
    stopped after `timeout` seconds); `on_object` hears of each object as soon as it is verified."""
    result = Result(configs=write_configs(plan.configs, dry_run=dry_run))
    if dry_run:
        return result
    verified = on_object or (lambda _: None)
    said: set[str] = set()
    for ebpf in plan.ebpf:
        _say_overridden(ebpf, said)
        # file times come from the kernel's coarse clock, up to a tick behind time.time_ns()
        started_ns = time.time_ns() - 20_000_000
        done = _cargo(ebpf.call, ebpf.what, timeout)
        rebuilt = messages.rebuilt_executables(done.stdout)
        published = publish(ebpf, messages.executables(done.stdout), rebuilt, started_ns)
        result.objects += published
        for obj in published:
            verified(obj)
    record_built(result.objects)
    if plan.userspace is not None:
        done = _cargo(plan.userspace.call, plan.userspace.what, timeout)
        result.userspace = plan.userspace.crates
        embedded = gate_aya_build(plan.userspace, done.stdout)
        result.objects += embedded
        for obj in embedded:
            verified(obj)
        record_built(result.objects)
        result.binaries = tuple(messages.executables(done.stdout))
        check_embedded(list(result.binaries), result.objects)
    return result
