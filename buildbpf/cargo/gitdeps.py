"""Git dependencies with a cargo that cannot fetch them (PITFALLS #27).

Debian bookworm's cargo 1.96 (`cargo-web`) links the system libgit2 1.5 although its
bindings expect a newer one: every git fetch *and* every checkout fails with `invalid
version N on git_proxy_options`, even for `file://` URLs and with `net.git-fetch-with-cli`.
It builds fine from sources another cargo has already put into the same CARGO_HOME
(`git/db` and `git/checkouts` have the same layout), with or without `--offline`.

So before building a workspace with git dependencies, buildbpf asks whether its cargo can
fetch git (a local probe, cached per binary), and if not, runs `cargo fetch` with another
cargo on the machine that can (a rustup toolchain's, run by path), into the same CARGO_HOME.
The build itself stays online: `-Z build-std` still downloads the standard library's
registry dependencies, which does not go through libgit2.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from buildbpf._process import probe, run
from buildbpf.errors import ToolchainError
from buildbpf.toolchain import probe_cache
from buildbpf.toolchain.rust import path_rustcs, rustup_toolchains

log = logging.getLogger("buildbpf")

BROKEN = "git_proxy_options"  # the libgit2 ABI mismatch's words
_PROBE_ENV_REMOVE = ("CARGO_HOME", "RUSTUP_TOOLCHAIN", "CARGO_TARGET_DIR", "RUSTFLAGS")


def git_sources(metadata: Iterable[Mapping[str, Any]]) -> list[str]:
    """Git URLs the packages of these `cargo metadata` outputs depend on."""
    found = []
    for data in metadata:
        for package in data.get("packages", []):
            for dep in package.get("dependencies", []):
                source = dep.get("source") or ""
                if source.startswith("git+"):
                    found.append(source.removeprefix("git+"))
    return list(dict.fromkeys(found))


def _probe_git(cargo: Path, rustc: Path | None) -> dict[str, str | None]:
    """Can `cargo` fetch and check out a git dependency? A local repository, no network.

    `generate-lockfile` in a fresh CARGO_HOME exercises both the db fetch and the checkout.
    """
    git = shutil.which("git")
    if git is None:
        return {"ok": None, "detail": "git is not installed"}
    with tempfile.TemporaryDirectory(prefix="buildbpf-gitprobe-") as tmp:
        root = Path(tmp)
        crate = root / "dep"
        (crate / "src").mkdir(parents=True)
        (crate / "Cargo.toml").write_text(
            '[package]\nname = "probe-dep"\nversion = "0.1.0"\nedition = "2021"\n'
        )
        (crate / "src" / "lib.rs").write_text("")
        env = {
            "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_NOSYSTEM": "1",
            "GIT_AUTHOR_NAME": "buildbpf", "GIT_AUTHOR_EMAIL": "buildbpf@localhost",
            "GIT_COMMITTER_NAME": "buildbpf", "GIT_COMMITTER_EMAIL": "buildbpf@localhost",
        }  # fmt: skip
        for argv in (["init", "-q", "-b", "main"], ["add", "."], ["commit", "-q", "-m", "probe"]):
            done = probe([git, "-C", str(crate), *argv], env_set=env)
            if done is None or done.returncode != 0:
                return {"ok": None, "detail": "git could not make a probe repository"}
        bare = root / "dep.git"
        done = probe([git, "clone", "-q", "--bare", str(crate), str(bare)], env_set=env)
        if done is None or done.returncode != 0:
            return {"ok": None, "detail": "git could not make a probe repository"}
        user = root / "user"
        (user / "src").mkdir(parents=True)
        (user / "Cargo.toml").write_text(
            '[package]\nname = "probe-user"\nversion = "0.1.0"\nedition = "2021"\n\n'
            f'[dependencies]\nprobe-dep = {{ git = "file://{bare}" }}\n'
        )
        (user / "src" / "lib.rs").write_text("")
        cmd_env = {"CARGO_HOME": str(root / "home"), **({"RUSTC": str(rustc)} if rustc else {})}
        done = run(
            [cargo, "generate-lockfile"], cwd=user, env_set=cmd_env, env_remove=_PROBE_ENV_REMOVE[1:],
            echo=False, stream=False, check=False, timeout=60,
        )  # fmt: skip
        if done.returncode == 0:
            return {"ok": "1", "detail": "fetches git dependencies"}
        last = next((ln.strip() for ln in reversed(done.stderr.splitlines()) if ln.strip()), "no output")
        return {"ok": "", "detail": last}


def can_fetch_git(cargo: Path, rustc: Path | None = None) -> tuple[bool | None, str]:
    """(verdict, detail) for this cargo binary; None when it could not be asked."""
    answer = probe_cache.cached_probe(cargo, "cargo git fetch", lambda: _probe_git(cargo, rustc))
    ok = answer.get("ok")
    return (None if ok is None else bool(ok)), answer.get("detail") or ""


def other_cargos(build_cargo: Path) -> list[tuple[Path, Path]]:
    """(cargo, rustc) pairs on this machine other than the build cargo, rustup's first."""
    pairs = []
    for candidate in [*rustup_toolchains(), *path_rustcs()]:
        if candidate.cargo is None or candidate.cargo.resolve() == build_cargo.resolve():
            continue
        pairs.append((candidate.cargo, candidate.rustc))
    return list(dict.fromkeys(pairs))


def prefetch(
    build_cargo: Path,
    build_rustc: Path,
    directories: Iterable[Path],
    urls: list[str],
    flags: Sequence[str] = (),
) -> Path | None:
    """Make git dependencies available to a cargo that cannot fetch them; the cargo used, if any.
    `flags`: the build's `--locked`/`--offline`/`--frozen`, which the fetch honours too (offline,
    it only checks that the sources are already in CARGO_HOME).

    Raises ToolchainError when no cargo on the machine can fetch them.
    """
    verdict, detail = can_fetch_git(build_cargo, build_rustc)
    if verdict is not False:
        return None
    for cargo, rustc in other_cargos(build_cargo):
        if can_fetch_git(cargo, rustc)[0] is not True:
            continue
        log.info(
            "%s cannot fetch git dependencies (%s); fetching %s with %s",
            build_cargo, detail, ", ".join(urls), cargo,
        )  # fmt: skip
        for directory in directories:
            run(
                [cargo, "fetch", *flags, "--config", 'resolver.incompatible-rust-versions="fallback"'],
                cwd=directory, env_set={"RUSTC": str(rustc)}, env_remove=("RUSTUP_TOOLCHAIN",),
                stream=False, echo_stdout=False, timeout=1800,
            )  # fmt: skip
        return cargo
    raise ToolchainError(
        f"the workspace has git dependencies ({', '.join(urls)}) but {build_cargo} cannot fetch "
        f"them ({detail}) and no other cargo on this machine can",
        fix="install a cargo with a working libgit2 (e.g. rustup's: `rustup toolchain install stable "
        "--profile minimal`); buildbpf then fetches with it and builds with this one",
    )
