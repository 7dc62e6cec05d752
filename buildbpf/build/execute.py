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
from buildbpf.build.layout import Published, once, publish, record_built, remove_stale
from buildbpf.build.replay import call_key
from buildbpf.build.steps import BuildOptions, BuildPlan, ConfigStep, EbpfStep
from buildbpf.cargo import config_file, gitdeps, messages

if TYPE_CHECKING:
    from buildbpf.build.context import Context
    from buildbpf.build.replay import Handover

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


def _cargo(
    call: Command,
    what: str,
    timeout: float,
    handover: Handover | None = None,
    bins: frozenset[str] | None = None,
) -> tuple[Completed, int]:
    """Run one cargo call, or take its result from the replay that ran it just before; the
    result, and when the call started (ns)."""
    key = call_key(call.argv, call.cwd, call.env_set, call.env_remove)
    if handover is not None and (ran := handover.take(key)) is not None:
        log.debug("%s: the replay ran this cargo call before it handed over; using its result", what)
        started_ns, stdout, stderr = ran
        return Completed(call, 0, stdout, stderr), started_ns
    # file times come from the kernel's coarse clock, up to a tick behind time.time_ns()
    started_ns = time.time_ns() - 20_000_000
    # stdout holds JSON messages; the human output is on stderr
    done = run_command(call, echo_stdout=False, check=False, timeout=timeout)
    if done.returncode != 0:
        raise cargo_failure(what, done.returncode, done.stdout + done.stderr, bins)
    return done, started_ns


def tracked_by_git(path: Path) -> bool:
    """Whether `path` exists and is in its git repository's index."""
    import shutil

    git = shutil.which("git")
    if git is None or not path.is_file():
        return False
    done = run([git, "ls-files", "--error-unmatch", "--", path.name], cwd=path.parent,
               echo=False, stream=False, check=False)  # fmt: skip
    return done.returncode == 0


def _exclude_from_git(path: Path) -> None:
    """Keep a config buildbpf wrote out of `git status` (the repository's info/exclude)."""
    from buildbpf.cargo import git_exclude

    if (exclude_file := git_exclude.exclude(path)) is not None:
        log.info("added %s to %s: git status no longer lists it (`write_config = false` in "
                 "buildbpf.toml stops buildbpf writing it)", path, exclude_file)  # fmt: skip


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
        outcome = config_file.apply(step.directory, step.keys, dry_run=dry_run, optional=True)
        outcomes.append(outcome)
        if outcome.status is config_file.ConfigStatus.NOT_WRITTEN:
            # a read-only checkout builds all the same (PITFALLS #28): a note, as for a tracked file
            log.info("%s is not written, which is fine: buildbpf passes its settings to cargo on its "
                     "command line (%s)", outcome.path, outcome.why_not_written)  # fmt: skip
            continue
        if not dry_run and not config_file.has_user_settings(step.directory):  # never hide a file of yours
            _exclude_from_git(outcome.path)
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
    handover: Handover | None = None,
) -> Result:
    """Write configs, build and gate every eBPF crate, then build userspace (each cargo call
    stopped after `timeout` seconds); `on_object` hears of each object as soon as it is verified;
    a call the replay ran before `handover` is not run again."""
    result = Result(configs=write_configs(plan.configs, dry_run=dry_run))
    if dry_run:
        return result
    written = any(c.status is not config_file.ConfigStatus.UNCHANGED for c in result.configs)
    if handover is not None and written:
        handover.forget()  # a config written since the replay ran its calls: they would build otherwise
    verified = on_object or (lambda _: None)
    owner = plan.publication
    if owner is not None:  # a renamed or removed bin: its old object must not reach userspace
        remove_stale(owner.objects_dirs, owner.workspace, owner.bins)
    said: set[str] = set()
    for ebpf in plan.ebpf:
        _say_overridden(ebpf, said)
        done, started_ns = _cargo(ebpf.call, ebpf.what, timeout, handover)
        rebuilt = messages.rebuilt_executables(done.stdout)
        published = publish(ebpf, messages.executables(done.stdout), rebuilt, started_ns)
        result.objects += published
        for obj in published:
            verified(obj)
    workspace = owner.workspace if owner is not None else None
    record_built(result.objects, workspace)
    if plan.userspace is not None:
        bins = owner.bins if owner is not None else None
        done, _ = _cargo(plan.userspace.call, plan.userspace.what, timeout, handover, bins)
        result.userspace = plan.userspace.crates
        embedded = gate_aya_build(plan.userspace, done.stdout)
        result.objects += embedded
        for obj in once(embedded):
            verified(obj)
        record_built(result.objects, workspace)
        result.binaries = tuple(messages.executables(done.stdout))
        check_embedded(list(result.binaries), result.objects, *_leftover_places(plan, result.objects))
    return result


def _leftover_places(plan: BuildPlan, objects: list[Published]) -> tuple[list[Path], set[str]]:
    """Where an earlier build of this workspace may have left an object of a bin renamed or
    removed since, and this build's bin names: aya-build's OUT_DIRs and the copies where an
    xtask-era project expects its objects, which are this workspace's alone. Not the objects
    dirs (`remove_stale` already took this workspace's stale objects out of them) nor cargo's
    output dirs: in a shared target dir they hold other workspaces' objects, and a vendored
    object equal to one of those is not stale."""
    owner = plan.publication
    places = [d for step in plan.ebpf for d in step.mirror_dirs]
    places += [o.path.parent for o in objects if o.aya_build and o.path.parent.parent.name != "buildbpf"]
    current = {o.bin for o in objects} | (owner.bins if owner is not None else set())
    return places, current
