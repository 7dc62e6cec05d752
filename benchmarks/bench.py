"""What buildbpf costs on top of cargo, measured side by side in one run.

    python benchmarks/bench.py [--runs 5] [--json benchmarks/results/bench.json]

Every figure is a median over --runs (cold builds: --cold-runs) and is shown next to its
baseline measured in the same run: the raw cargo commands buildbpf itself runs (taken
from `buildbpf build --print-plan`), `cargo --version`, Aya's template build flags, or the
peer: a project laid out as today's aya-template, built by its own `cargo build --release`
(aya-build in its build.rs), wall time and CPU time (user + sys of every child process).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ("xdp-counter", "connect-tracer")
PARTS = ["startup", "noop", "cold", "check", "quality", "peer", "kernels", "layouts"]
KERNELS = "5.10,6.1,6.12,6.18,latest"
PEER_LAYOUT = ROOT / "tests" / "integration" / "fixtures" / "layouts" / "current-template"
BUILDBPF = str(Path(sys.executable).with_name("buildbpf"))


def timed(
    command: list[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> tuple[float, str, str]:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"failed: {' '.join(command)}\n{done.stderr[-3000:]}")
    return elapsed, done.stdout, done.stderr


def cpu_timed(command: list[str], *, cwd: Path, env: dict[str, str]) -> tuple[float, float]:
    """(wall, CPU) seconds of one command: CPU is user + sys of it and every child it waited for."""
    import resource

    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    wall = timed(command, cwd=cwd, env=env)[0]
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def median(runs: int, measure: Callable[[], float]) -> float:
    return statistics.median(measure() for _ in range(runs))


def paired(runs: int, ours: Callable[[], float], theirs: Callable[[], float]) -> tuple[float, float]:
    """Medians of both, measured alternately so that drift in the machine hits both alike."""
    mine, base = [], []
    for _ in range(runs):
        mine.append(ours())
        base.append(theirs())
    return statistics.median(mine), statistics.median(base)


def plan_of(workspace: Path, env: dict[str, str]) -> dict[str, Any]:
    _, out, _ = timed([BUILDBPF, "build", "--release", "--print-plan"], cwd=workspace, env=env)
    return json.loads(out)


def raw_cargo(plan: dict[str, Any], env: dict[str, str]) -> tuple[float, list[str]]:
    """Run the plan's cargo calls by hand, copying each object where userspace expects it."""
    total, errors = 0.0, []
    steps = [(step["cargo"], step) for step in plan["ebpf"]]
    if plan["userspace"]:
        steps.append((plan["userspace"]["cargo"], None))
    for call, ebpf in steps:
        call_env = {k: v for k, v in env.items() if k not in call["env_remove"]}
        call_env.update(call["env_set"])
        elapsed, out, err = timed(call["argv"], cwd=Path(call["cwd"]), env=call_env)
        total += elapsed
        errors.append(err)
        if ebpf is not None:
            start = time.perf_counter()
            for line in out.splitlines():
                message = json.loads(line) if line.startswith("{") else {}
                if message.get("executable"):
                    destination = Path(ebpf["objects_dir"]) / Path(message["executable"]).name
                    destination.parent.mkdir(parents=True, exist_ok=True)
                    if (
                        not destination.exists()
                        or destination.read_bytes() != Path(message["executable"]).read_bytes()
                    ):
                        shutil.copyfile(message["executable"], destination)
            total += time.perf_counter() - start
    return total, errors


def mtimes(workspace: Path) -> dict[str, int]:
    return {str(p): p.stat().st_mtime_ns for p in workspace.rglob("config.toml")}


def copy_example(name: str, into: Path) -> Path:
    destination = into / name
    shutil.copytree(ROOT / "examples" / name, destination, ignore=shutil.ignore_patterns("target", ".cargo"))
    return destination


def bench_startup(runs: int, cargo: str) -> list[dict[str, Any]]:
    base = median(runs, lambda: timed([cargo, "--version"])[0])
    rows = []
    for args in (["--version"], ["--help"]):
        value = median(runs, lambda a=args: timed([BUILDBPF, *a])[0])  # type: ignore[misc]
        rows.append(
            {
                "what": f"startup: buildbpf {' '.join(args)}",
                "seconds": value,
                "baseline": "cargo --version",
                "baseline_seconds": base,
                "target": "<= 0.150 s (--version)",
            }
        )
    return rows


def bench_noop(runs: int, workspace: Path, env: dict[str, str]) -> list[dict[str, Any]]:
    """A no-op as users see it (replayed), and on the full path (planned again)."""
    timed([BUILDBPF, "build", "--release"], cwd=workspace, env=env)  # builds, writes the configs
    timed([BUILDBPF, "build", "--release"], cwd=workspace, env=env)  # the first no-op records it
    plan = plan_of(workspace, env)
    before = mtimes(workspace)
    rows = []
    for label, extra in (("", {}), (" (full path)", {"BUILDBPF_NO_REPLAY": "1"})):
        compiled: list[bool] = []
        run_env = {**env, **extra}

        def ours(run_env: dict[str, str] = run_env, compiled: list[bool] = compiled) -> float:
            elapsed, _, err = timed([BUILDBPF, "build", "--release"], cwd=workspace, env=run_env)
            compiled.append("Compiling" in err)
            return elapsed

        value, base = paired(runs, ours, lambda: raw_cargo(plan, env)[0])
        rows.append(
            {
                "what": f"no-op rebuild: {workspace.name}{label}",
                "seconds": value,
                "baseline": "the same cargo calls by hand",
                "baseline_seconds": base,
                "target": "ratio <= 1.15",
                "recompiled": any(compiled),
                "rewrote_config": mtimes(workspace) != before,
            }
        )
    return rows


def bench_cold(runs: int, workspace: Path, env: dict[str, str], scratch: Path) -> dict[str, Any]:
    def ours() -> float:
        target = Path(tempfile.mkdtemp(dir=scratch))
        return timed(
            [BUILDBPF, "build", "--release"], cwd=workspace, env={**env, "CARGO_TARGET_DIR": str(target)}
        )[0]

    def theirs() -> float:
        target = Path(tempfile.mkdtemp(dir=scratch))
        cold_env = {**env, "CARGO_TARGET_DIR": str(target)}
        # the config files buildbpf writes are part of its job; the hand-run baseline reuses them
        return raw_cargo(plan_of(workspace, cold_env), cold_env)[0]

    return {
        "what": f"cold build: {workspace.name}",
        "seconds": median(runs, ours),
        "baseline": "same cargo calls, empty target dir",
        "baseline_seconds": median(runs, theirs),
        "target": "ratio <= 1.05",
    }


def peer_environment(env: dict[str, str]) -> dict[str, str]:
    """The peer's own build, given the toolchain buildbpf uses, so both run one compiler.

    aya-build runs `cargo +nightly` / `rustup run nightly cargo`; buildbpf's stand-ins for
    those (first on PATH) run the resolved toolchain, as they do inside `buildbpf build`.
    """
    from buildbpf.build.aya_build import aya_build_environment
    from buildbpf.toolchain import resolve

    return {**env, **aya_build_environment(resolve(), env)}


def bench_peer(runs: int, cold_runs: int, env: dict[str, str], scratch: Path) -> list[dict[str, Any]]:
    """buildbpf against aya-build on the aya-template layout: cold (fresh target dirs,
    alternated) and no-op, wall and CPU."""
    workspace = scratch / "tmplxdp"
    shutil.copytree(PEER_LAYOUT, workspace, ignore=shutil.ignore_patterns("target"))
    peer_env = peer_environment(env)
    ours_cmd, theirs_cmd = [BUILDBPF, "build", "--release"], ["cargo", "build", "--release"]
    cold: dict[str, list[tuple[float, float]]] = {"ours": [], "theirs": []}
    both = [("ours", ours_cmd, env), ("theirs", theirs_cmd, peer_env)]
    for run in range(cold_runs):
        # who goes first alternates: the first build of a pair warms the page cache for the second
        for who, command, base_env in both if run % 2 == 0 else both[::-1]:
            target = Path(tempfile.mkdtemp(dir=scratch))
            fresh = {**base_env, "CARGO_TARGET_DIR": str(target)}
            cold[who].append(cpu_timed(command, cwd=workspace, env=fresh))
            shutil.rmtree(target)
    shared = {"CARGO_TARGET_DIR": str(scratch / "peer-target")}
    ours_env, theirs_env = {**env, **shared}, {**peer_env, **shared}
    timed(ours_cmd, cwd=workspace, env=ours_env)
    timed(theirs_cmd, cwd=workspace, env=theirs_env)
    noop = paired(
        runs,
        lambda: timed(ours_cmd, cwd=workspace, env=ours_env)[0],
        lambda: timed(theirs_cmd, cwd=workspace, env=theirs_env)[0],
    )
    baseline = "aya-build: the project's own cargo build --release"
    rows: list[dict[str, Any]] = []
    for index, kind in ((0, "wall"), (1, "CPU")):
        rows.append({
            "what": f"cold build ({kind}): aya-template layout (xdp)",
            "seconds": statistics.median(r[index] for r in cold["ours"]),
            "baseline": baseline,
            "baseline_seconds": statistics.median(r[index] for r in cold["theirs"]),
            "target": "ratio <= 1.00",
        })  # fmt: skip
    rows.append({"what": "no-op rebuild: aya-template layout (xdp)", "seconds": noop[0], "baseline": baseline,
                 "baseline_seconds": noop[1], "target": "ratio <= 1.15"})  # fmt: skip
    return rows


def bench_check(runs: int, objects: list[Path]) -> list[dict[str, Any]]:
    base = median(runs, lambda: timed([BUILDBPF, "--help"])[0])
    rows = []
    for obj in objects:
        value = median(runs, lambda o=obj: timed([BUILDBPF, "check", str(o)])[0])  # type: ignore[misc]
        rows.append(
            {
                "what": f"check: {obj.name}",
                "seconds": value,
                "baseline": "buildbpf --help (startup)",
                "baseline_seconds": base,
                "target": "<= 0.050 s beyond startup",
            }
        )
    return rows


def bench_kernels(runs: int, objects: list[Path], scratch: Path) -> list[dict[str, Any]]:
    """`check --kernel` with 5 kernels on the examples: warm cache, then cold (downloads included;
    the static verifier helper stays built, it is a toolchain cost, not a kernel one)."""
    command = [BUILDBPF, "check", *map(str, objects), "--kernel", KERNELS]
    timed(command)  # fills the cache and builds the helper
    warm = median(runs, lambda: timed(command)[0])
    home = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    cache = Path(os.environ.get("BUILDBPF_CACHE_DIR", home / "buildbpf"))
    cold_cache = scratch / "cold-cache"
    cold_cache.mkdir()
    (cold_cache / "loader").symlink_to(cache / "loader")
    cold = timed(command, env=dict(os.environ, BUILDBPF_CACHE_DIR=str(cold_cache)))[0]
    size = sum(f.stat().st_size for f in (cold_cache / "kernels" / "images").rglob("*") if f.is_file())
    target = "<= 40 s on 2 cores (issue 13)"
    return [
        {"what": f"check --kernel {KERNELS}, warm", "seconds": warm, "baseline": "target",
         "baseline_seconds": 40.0, "target": target},
        {"what": f"check --kernel {KERNELS}, cold ({size >> 20} MiB kept)", "seconds": cold,
         "baseline": "warm", "baseline_seconds": warm, "target": "report"},
    ]  # fmt: skip


def bench_layouts(runs: int, scratch: Path) -> list[dict[str, Any]]:
    """What comparing kernel struct layouts adds to `check --kernel` for five kernels: the BTF
    read out of each cached image (cold: decompressed; warm: kept beside the image), indexed,
    and compared with the test fixture that reads task_struct through bindings."""
    sys.path.insert(0, str(ROOT))
    from buildbpf.kernels import catalog, fetch, verify
    from buildbpf.objects import layouts

    crate = scratch / "layout-ebpf"
    shutil.copytree(ROOT / "tests" / "integration" / "fixtures" / "layout-ebpf", crate)
    (crate / "buildbpf.toml").write_text('[crates.layout-ebpf]\nrole = "ebpf"\n')
    timed([BUILDBPF, "build", "--release"], cwd=crate)
    found = layouts.object_layouts(crate / "target" / "buildbpf" / "bpfel-unknown-none" / "layout-ebpf") or []
    requests = catalog.expand(KERNELS.split(","))
    kernels = [fetch.resolve(r) for r in requests]

    def compare() -> float:
        started = time.perf_counter()
        verify.compare_layouts([("layout-ebpf", found)], requests, kernels)
        return time.perf_counter() - started

    for kernel in kernels:  # cold: nothing kept beside the images yet
        for kept in kernel.vmlinuz.parent.glob("btf-*"):
            kept.unlink()
    cold = compare()
    warm = median(runs, compare)
    return [
        {"what": f"layout comparison, {len(kernels)} kernels, warm", "seconds": warm, "baseline": "target",
         "baseline_seconds": 2.0, "target": "<= 2 s (issue 24)"},
        {"what": f"layout comparison, {len(kernels)} kernels, cold (BTF read out of the images)",
         "seconds": cold, "baseline": "warm", "baseline_seconds": warm, "target": "report"},
    ]  # fmt: skip


def translated(obj: Path) -> dict[str, int]:
    _, out, _ = timed([BUILDBPF, "check", "--load", "--json", str(obj)])
    return {load["name"]: load["translated_insns"] for load in json.loads(out)[0]["loads"]}


def bench_quality(workspace: Path, env: dict[str, str], scratch: Path) -> list[dict[str, Any]]:
    """Kernel-translated instructions: buildbpf's flags vs Aya's template build flags."""
    plan = plan_of(workspace, env)
    ours = Path(plan["ebpf"][0]["objects_dir"]) / plan["ebpf"][0]["bins"][0]
    call = plan["ebpf"][0]["cargo"]
    target = scratch / "template-flags"
    # aya-template: `--release`, panic=abort, debuginfo 2 + --btf, bpf-linker defaults,
    # codegen-units=1 only for the eBPF package, no LTO setting (cargo's default: thin-local)
    argv: list[str] = []
    items = iter(call["argv"])
    for item in items:
        value = next(items, "") if item == "--config" else None
        if value is None:
            argv.append(item)
        elif not value.startswith("profile."):
            argv += [item, value]
    argv += [
        "--config",
        'profile.release.panic="abort"',
        "--config",
        f"profile.release.package.{plan['ebpf'][0]['crates'][0]}.codegen-units=1",
    ]
    call_env = {k: v for k, v in env.items() if k not in call["env_remove"]}
    call_env.update(call["env_set"])
    call_env["CARGO_ENCODED_RUSTFLAGS"] = "\x1f".join(["-C", "debuginfo=2", "-C", "link-arg=--btf"])
    call_env["CARGO_TARGET_DIR"] = str(target)
    timed(argv, cwd=Path(call["cwd"]), env=call_env)
    theirs = target / "bpfel-unknown-none" / "release" / plan["ebpf"][0]["bins"][0]
    mine, template = translated(ours), translated(theirs)
    return [
        {
            "what": f"translated insns: {workspace.name}/{name}",
            "value": mine[name],
            "baseline": "Aya template flags",
            "baseline_value": template.get(name),
            "target": "<= baseline",
        }
        for name in mine
    ]


def table(rows: list[dict[str, Any]]) -> str:
    lines = ["| measurement | buildbpf | baseline | ratio | target |", "| --- | ---: | ---: | ---: | --- |"]
    for row in rows:
        if "seconds" in row:
            mine, base = row["seconds"], row["baseline_seconds"]
            cells = (
                f"{mine * 1000:.0f} ms",
                f"{base * 1000:.0f} ms ({row['baseline']})",
                f"{mine / base:.2f}",
            )
        else:
            mine, base = row["value"], row["baseline_value"]
            cells = (str(mine), f"{base} ({row['baseline']})", f"{mine / base:.2f}" if base else "-")
        extra = ""
        if row.get("recompiled") or row.get("rewrote_config"):
            extra = " (recompiled or rewrote a file!)"
        lines.append(f"| {row['what']} | {cells[0]} | {cells[1]} | {cells[2]} | {row['target']}{extra} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--cold-runs", type=int, default=1)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks" / "results" / "bench.json")
    parser.add_argument(
        "--only", nargs="+", choices=PARTS, default=PARTS, help="measure only these (default: all)"
    )
    args = parser.parse_args()
    only = set(args.only)
    env = dict(os.environ)
    # measure buildbpf as installed: pip compiles a wheel's bytecode at install time
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "buildbpf")], check=True)
    doctor = json.loads(timed([BUILDBPF, "doctor", "--json"])[1])
    cargo = doctor["toolchain"]["cargo"]
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="buildbpf-bench-") as tmp:
        scratch = Path(tmp)
        if "startup" in only:
            rows += bench_startup(args.runs, cargo)
        workspaces = []
        if only & {"noop", "cold", "check", "quality", "kernels"}:
            workspaces = [copy_example(name, scratch) for name in EXAMPLES]
        for workspace in workspaces:
            timed([BUILDBPF, "build", "--release"], cwd=workspace, env=env)
            if "noop" in only:
                rows += bench_noop(args.runs, workspace, env)
        if "cold" in only:
            rows.append(bench_cold(args.cold_runs, workspaces[0], env, scratch))
        if "check" in only:
            plans = [p for w in workspaces for p in plan_of(w, env)["ebpf"]]
            objects = [Path(p["objects_dir"]) / p["bins"][0] for p in plans]
            rows += bench_check(args.runs, objects)
        if "quality" in only and os.geteuid() == 0:
            for workspace in workspaces:
                rows += bench_quality(workspace, env, scratch)
        if "kernels" in only:
            plans = [p for w in workspaces for p in plan_of(w, env)["ebpf"]]
            objects = [Path(p["objects_dir"]) / p["bins"][0] for p in plans]
            rows += bench_kernels(min(args.runs, 3), objects, scratch)
        if "peer" in only:
            rows += bench_peer(args.runs, args.cold_runs, env, scratch)
        if "layouts" in only:
            rows += bench_layouts(min(args.runs, 5), scratch)
    machine = f"{platform.node()} {platform.machine()}, {os.cpu_count()} cores, Linux {platform.release()}"
    tools = doctor["toolchain"]
    print(f"machine: {machine}; rustc {tools['rustc_version']} (LLVM {tools['llvm_version']})")
    print(table(rows))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(
        json.dumps({"machine": machine, "toolchain": doctor["toolchain"], "rows": rows}, indent=2)
    )
    print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
