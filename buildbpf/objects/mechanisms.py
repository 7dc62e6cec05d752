"""Which attach mechanisms the running kernel offers: kprobe, uprobe, tracepoint, fentry/fexit, ...

A kernel built without kprobes (CONFIG_KPROBES off) loads a kprobe program and verifies it,
and only refuses at attach time. This module tells that beforehand, from the kernel's own
evidence, cheapest first, per requirement of a mechanism:

1. proof by presence: perf's dynamic PMUs (/sys/bus/event_source/devices/kprobe, what Aya's
   attach uses), tracefs's `kprobe_events`/`uprobe_events` (when tracefs is mounted), the
   kernel's BTF file, a kernel configuration saying `=y`/`=m`, a kernel symbol in /proc/kallsyms;
   (tracefs itself: /proc/filesystems, mounted or not);
2. proof by absence: the configuration (/proc/config.gz, /boot/config-RELEASE) saying `is not
   set`, a readable /proc/kallsyms without the symbol, a mounted tracefs without the file;
3. for LSM programs, the active LSMs (securityfs, else `lsm=` on the kernel command line, else
   CONFIG_LSM); with privilege, loading a two-instruction program of the type (BPF_PROG_LOAD;
   fentry and LSM ones against a kernel function): EPERM there is read as `check --load`
   reads it (`kernel.refusal`), so doctor and `check --load` agree.

`decide` is pure (an `Evidence` in, verdicts out); `read_evidence` is the thin reader.
The section -> mechanism mapping is `sections.mechanism_of`.
"""

from __future__ import annotations

import errno
import gzip
import platform
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from buildbpf.objects import kernel, sections

PMUS = Path("/sys/bus/event_source/devices")
VMLINUX_BTF = str(kernel.VMLINUX_BTF)
_TRACEFS_POINTS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")


@dataclass(frozen=True)
class Requirement:
    """One thing a mechanism needs, and the evidence that proves it there or missing."""

    config: str  # the kernel option that provides it (CONFIG_KPROBES)
    missing: str  # the reason when it is missing, for a person
    symbols: tuple[str, ...] = ()  # any of these (strong) in /proc/kallsyms proves it
    paths: tuple[str, ...] = ()  # any of these existing proves it
    path_decides: bool = False  # the first path's absence proves it missing (the BTF file)
    tracefs_file: str | None = None  # present in a mounted tracefs proves it, absent disproves it
    weak_stub: bool = False  # a weak symbol is the generic "not supported" stub: it proves absence
    filesystem: str | None = None  # listed in /proc/filesystems proves it, unlisted disproves it


@dataclass(frozen=True)
class Spec:
    """One attach mechanism: what it needs of the kernel."""

    name: str  # sections.KPROBE, ...
    title: str  # what doctor shows
    requires: tuple[Requirement, ...]
    prog_type: int | None = None  # BPF_PROG_TYPE_* confirmed by a load probe, with privilege
    lsm: bool = False  # the BPF LSM must also be active
    # the probe's expected_attach_type and the kernel function (BTF) it attaches to
    attach: tuple[int, str] | None = None


def _off(what: str, config: str) -> str:
    return f"{what} are not enabled in this kernel ({config})"


def _pmu(name: str) -> str:
    return str(PMUS / name)


_BPF_EVENTS = Requirement(
    "CONFIG_BPF_EVENTS", "BPF programs cannot be attached to trace events (CONFIG_BPF_EVENTS)",
    symbols=("perf_event_attach_bpf_prog",),
)  # fmt: skip
_BTF = Requirement(
    "CONFIG_DEBUG_INFO_BTF", f"the kernel has no BTF ({VMLINUX_BTF}, CONFIG_DEBUG_INFO_BTF)",
    paths=(VMLINUX_BTF,), path_decides=True,
)  # fmt: skip
_TRAMPOLINES = Requirement(
    "CONFIG_BPF_JIT", "this kernel has no BPF trampolines (CONFIG_BPF_JIT on an arch that has them)",
    symbols=("arch_prepare_bpf_trampoline",), weak_stub=True,  # the weak one says "not supported"
)  # fmt: skip


def _tracefs(pmu: str) -> Requirement:
    """Trace events live in tracefs (CONFIG_TRACING); the event's perf PMU implies it."""
    return Requirement(
        "CONFIG_TRACING", "this kernel has no tracefs (CONFIG_TRACING), where Aya finds trace events",
        ("tracefs_create_file",), (_pmu(pmu),), tracefs_file="events", filesystem="tracefs",
    )  # fmt: skip


_KPROBE_PMU, _UPROBE_PMU = (_pmu("kprobe"),), (_pmu("uprobe"),)

SPECS: tuple[Spec, ...] = (
    Spec(sections.KPROBE, "kprobe/kretprobe", (
        Requirement("CONFIG_KPROBES", "kprobes are not enabled in this kernel (CONFIG_KPROBES)",
                    ("register_kprobe",), _KPROBE_PMU),
        Requirement("CONFIG_KPROBE_EVENTS", _off("kprobe events", "CONFIG_KPROBE_EVENTS"),
                    ("create_local_trace_kprobe",), _KPROBE_PMU, tracefs_file="kprobe_events"),
        _BPF_EVENTS, _tracefs("kprobe"))),
    Spec(sections.UPROBE, "uprobe/uretprobe", (
        Requirement("CONFIG_UPROBES", "uprobes are not enabled in this kernel (CONFIG_UPROBES)",
                    ("uprobe_register", "uprobe_register_refctr"), _UPROBE_PMU),
        Requirement("CONFIG_UPROBE_EVENTS", _off("uprobe events", "CONFIG_UPROBE_EVENTS"),
                    ("create_local_trace_uprobe",), _UPROBE_PMU, tracefs_file="uprobe_events"),
        _BPF_EVENTS, _tracefs("uprobe"))),
    Spec(sections.TRACEPOINT, "tracepoint", (
        Requirement("CONFIG_TRACEPOINTS", "tracepoints are not enabled in this kernel (CONFIG_TRACEPOINTS)",
                    ("tracepoint_probe_register",), (_pmu("tracepoint"),), tracefs_file="events"),
        _BPF_EVENTS, _tracefs("tracepoint"))),
    Spec(sections.RAW_TRACEPOINT, "raw tracepoint", (
        Requirement("CONFIG_BPF_EVENTS", "raw tracepoints are not enabled in this kernel (CONFIG_BPF_EVENTS)",
                    ("bpf_probe_register", "bpf_get_raw_tracepoint")),)),
    Spec(sections.TRAMPOLINE, "fentry/fexit (trampolines)", (_TRAMPOLINES, _BTF),
         prog_type=26, attach=(24, "bpf_fentry_test1")),  # TRACING, BPF_TRACE_FENTRY
    Spec(sections.LSM, "lsm (BPF LSM)", (
        Requirement("CONFIG_BPF_LSM", "the BPF LSM is not built into this kernel (CONFIG_BPF_LSM)",
                    ("bpf_lsm_file_open", "bpf_lsm_verify_prog")),
        _TRAMPOLINES, _BTF), lsm=True, prog_type=29, attach=(27, "bpf_lsm_file_open")),  # LSM, LSM_MAC
    Spec(sections.CGROUP, "cgroup", (
        Requirement("CONFIG_CGROUP_BPF", _off("cgroup BPF programs", "CONFIG_CGROUP_BPF"),
                    ("__cgroup_bpf_attach", "cgroup_bpf_prog_attach")),), prog_type=8),  # CGROUP_SKB
    Spec(sections.TC, "tc (classifier)", (
        Requirement("CONFIG_NET_CLS_BPF", "tc BPF classifiers are not enabled in this kernel "
                    "(CONFIG_NET_XGRESS or CONFIG_NET_CLS_BPF)", ("tcx_prog_attach", "cls_bpf_classify")),),
         prog_type=3),  # SCHED_CLS
    Spec(sections.XDP, "xdp", (
        Requirement("CONFIG_NET", "this kernel has no networking, so no XDP (CONFIG_NET)",
                    ("bpf_xdp_link_attach", "dev_change_xdp_fd")),), prog_type=6),  # XDP
    Spec(sections.PERF_EVENT, "perf_event", (
        Requirement("CONFIG_PERF_EVENTS", "perf events are not enabled in this kernel (CONFIG_PERF_EVENTS)",
                    ("perf_event_create_kernel_counter",), ("/proc/sys/kernel/perf_event_paranoid",)),
        _BPF_EVENTS), prog_type=7),  # PERF_EVENT
)  # fmt: skip
# the kernel option that also grants a requirement (TCX since 6.6 needs no cls_bpf)
_ALSO = {"CONFIG_NET_CLS_BPF": ("CONFIG_NET_XGRESS",)}
_PROG_TYPE_NAMES = {3: "SCHED_CLS", 6: "XDP", 7: "PERF_EVENT", 8: "CGROUP_SKB", 26: "TRACING", 29: "LSM"}
# the names `check --load` gives these types (Aya's), for the one reading of a refusal
_AYA_TYPES = {3: "SchedClassifier", 6: "Xdp", 7: "PerfEvent", 8: "CgroupSkb", 26: "Tracing", 29: "Lsm"}
LoadProbeFn = Callable[[int, int, int], kernel.LoadProbe]  # (prog_type, attach_type, attach_btf_id)


@dataclass(frozen=True)
class Evidence:
    """What the kernel shows of itself; None for a source that could not be read."""

    paths: frozenset[str] = frozenset()  # which of the paths the specs name exist
    filesystems: frozenset[str] | None = None  # /proc/filesystems
    tracefs: frozenset[str] | None = None  # entries at a mounted tracefs root; None: not mounted
    tracefs_point: str | None = None
    config: Mapping[str, str] | None = None  # CONFIG_X -> value ("n" for "is not set")
    config_source: str = ""
    symbols: Mapping[str, str] | None = None  # kallsyms name -> type letter, the names the specs use
    lsms: tuple[str, ...] | None = None
    lsm_source: str = ""
    prog_loads: Mapping[int, kernel.LoadProbe] = field(default_factory=dict)  # with privilege
    caps: int | None = None  # the effective capabilities the probes ran with


@dataclass(frozen=True)
class Mechanism:
    """One mechanism's verdict on this kernel."""

    name: str
    title: str
    available: bool | None  # None: could not tell
    evidence: str  # what decided it
    reason: str = ""  # why it is missing (or why it could not be told)
    note: str = ""  # available, but something a user must know
    refused: bool = False  # a test program of the type was refused: such programs do not even load


@dataclass(frozen=True)
class Blocked:
    """A program whose attach mechanism this kernel lacks (`check`: cannot attach on this kernel)."""

    program: str
    section: str
    mechanism: str
    reason: str

    @property
    def message(self) -> str:
        """The finding `check` records (a warning: the object may be meant for another kernel)."""
        return f"program {self.program} ({self.section}) cannot attach on this kernel: {self.reason}"


def blocked(programs: Iterable[tuple[str, str]], verdicts: Mapping[str, Mechanism]) -> list[Blocked]:
    """The (function, section) pairs whose mechanism is missing from `verdicts`."""
    found = []
    for function, section in programs:
        name = sections.mechanism_of(section)
        verdict = verdicts.get(name) if name is not None else None
        if verdict is not None and verdict.available is False:
            found.append(Blocked(function, section, verdict.name, verdict.reason))
    return found


def wanted_symbols() -> frozenset[str]:
    """Every kernel symbol the specs look for (the reader keeps only these)."""
    return frozenset(s for spec in SPECS for r in spec.requires for s in r.symbols)


def wanted_paths() -> frozenset[str]:
    """Every path the specs look at."""
    return frozenset(p for spec in SPECS for r in spec.requires for p in r.paths)


def _strong(symbols: Mapping[str, str], names: Iterable[str]) -> str | None:
    return next((n for n in names if symbols.get(n, "W") not in "wWvV"), None)


def _config_on(config: Mapping[str, str], name: str) -> bool:
    return any(config.get(n, "n") not in ("n", "") for n in (name, *_ALSO.get(name, ())))


def check_requirement(req: Requirement, ev: Evidence) -> tuple[bool | None, str]:
    """(there?, the evidence that says so): proofs by presence first, then by absence."""
    stub = req.weak_stub and ev.symbols is not None and not _strong(ev.symbols, req.symbols)
    if stub and ev.symbols is not None and any(n in ev.symbols for n in req.symbols):
        return False, f"only the generic stub of {req.symbols[0]} in /proc/kallsyms"
    if req.weak_stub and ev.symbols is not None and (found := _strong(ev.symbols, req.symbols)):
        return True, f"{found} in /proc/kallsyms"  # the arch's own: more than the config says
    if present := next((p for p in req.paths if p in ev.paths), None):
        return True, present
    if req.filesystem and ev.filesystems is not None:
        there = req.filesystem in ev.filesystems
        return there, f"{req.filesystem} {'in' if there else 'not in'} /proc/filesystems"
    if req.tracefs_file and ev.tracefs is not None and req.tracefs_file in ev.tracefs:
        return True, f"{ev.tracefs_point}/{req.tracefs_file}"
    if ev.config is not None and _config_on(ev.config, req.config):
        return True, f"{req.config} in {ev.config_source}"
    if ev.symbols is not None and (found := _strong(ev.symbols, req.symbols)):
        return True, f"{found} in /proc/kallsyms"
    if req.path_decides:
        return False, f"no {req.paths[0]}"
    if ev.config is not None:
        return False, f"{req.config} is not set in {ev.config_source}"
    if ev.symbols is not None and req.symbols:
        return False, f"no {' or '.join(req.symbols)} in /proc/kallsyms"
    if req.tracefs_file and ev.tracefs is not None:
        return False, f"no {req.tracefs_file} in {ev.tracefs_point}"
    return None, f"no evidence for {req.config} (no kernel config, /proc/kallsyms unreadable)"


def decide(spec: Spec, ev: Evidence) -> Mechanism:
    """The verdict on one mechanism: missing at the first requirement proven missing."""
    said: list[str] = []
    unknown: list[str] = []
    for req in spec.requires:
        there, evidence = check_requirement(req, ev)
        if there is False:
            return Mechanism(spec.name, spec.title, False, evidence, req.missing)
        (said if there else unknown).append(evidence)
    if spec.lsm and ev.lsms is not None and "bpf" not in ev.lsms:
        reason = (
            f"the BPF LSM is not active (active LSMs: {','.join(ev.lsms)}); boot with \"bpf\" in lsm="
        )
        return Mechanism(spec.name, spec.title, False, ev.lsm_source, reason)
    probe = ev.prog_loads.get(spec.prog_type) if spec.prog_type is not None else None
    if probe is not None and not probe.ok and probe.errno == errno.EPERM:
        # a privileged load refused before verifying: what `check --load` says of such programs
        reason = kernel.refusal(_AYA_TYPES[spec.prog_type or 0], ev.lsms, ev.caps)
        return Mechanism(spec.name, spec.title, False, probe.detail, reason, refused=True)
    if probe is not None and not probe.ok and probe.errno == errno.EINVAL and spec.attach is None:
        reason = f"this kernel refuses BPF_PROG_TYPE_{_PROG_TYPE_NAMES[spec.prog_type or 0]} programs"
        return Mechanism(spec.name, spec.title, False, probe.detail, reason)
    if unknown:
        return Mechanism(spec.name, spec.title, None, "; ".join(unknown), "could not tell on this machine")
    if spec.lsm:
        said.append(f"bpf active in {ev.lsm_source}" if ev.lsms is not None else "active LSMs unknown")
    if probe is not None and probe.ok:
        said.append("a test program loaded")
    return Mechanism(spec.name, spec.title, True, "; ".join(dict.fromkeys(said)), note=_note(spec, ev))


def _note(spec: Spec, ev: Evidence) -> str:
    if spec.name == sections.TRACEPOINT and ev.tracefs is None and ev.tracefs_point is not None:
        return f"tracefs at {ev.tracefs_point} is not readable here: Aya reads tracepoint ids from it"
    if spec.name == sections.TRACEPOINT and ev.tracefs is None:
        return (
            "tracefs is not mounted: Aya reads tracepoint ids from it when attaching "
            "(mount -t tracefs tracefs /sys/kernel/tracing)"
        )
    if spec.lsm and ev.lsms is None:
        return "the active LSMs could not be read (securityfs is not mounted): BPF LSM may be inactive"
    return ""


def decide_all(ev: Evidence) -> dict[str, Mechanism]:
    """Every mechanism's verdict, in doctor's order."""
    return {spec.name: decide(spec, ev) for spec in SPECS}


# --- parsing what the kernel shows ----------------------------------------------------------------


def parse_config(text: str) -> dict[str, str]:
    """A kernel .config: `CONFIG_X=y` -> y, `# CONFIG_X is not set` -> n."""
    values = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            key, _, value = line.partition("=")
            values[key] = value.strip().strip('"')
        elif line.startswith("# CONFIG_") and line.endswith(" is not set"):
            values[line[2 : -len(" is not set")]] = "n"
    return values


def parse_kallsyms(text: str, wanted: Iterable[str]) -> dict[str, str]:
    """The wanted names of /proc/kallsyms with their type letter (T, t, W, ...)."""
    names, found = frozenset(wanted), dict[str, str]()
    for line in text.splitlines():
        parts = line.split(maxsplit=3)
        if len(parts) >= 3 and parts[2] in names:
            found.setdefault(parts[2], parts[1])
    return found


def tracefs_mount(mounts: str) -> str | None:
    """Where tracefs is reachable: a tracefs mount, or debugfs's `tracing` directory."""
    points: dict[str, str] = {}
    for line in mounts.splitlines():
        fields = line.split()
        if len(fields) >= 3:
            points.setdefault(fields[2], fields[1])
    if "tracefs" in points:
        return points["tracefs"]
    if "debugfs" in points:
        return points["debugfs"] + "/tracing"
    return None


def active_lsms(securityfs: str | None, cmdline: str, config: Mapping[str, str] | None) -> tuple[
    tuple[str, ...] | None, str
]:
    """The active LSMs, and where they were read: securityfs, `lsm=` at boot, else CONFIG_LSM."""
    if securityfs is not None:
        return tuple(securityfs.strip().split(",")), "/sys/kernel/security/lsm"
    boot = [word[4:] for word in cmdline.split() if word.startswith("lsm=")]
    if boot:
        return tuple(boot[-1].split(",")), "lsm= on the kernel command line"
    if config is not None and config.get("CONFIG_LSM"):
        return tuple(config["CONFIG_LSM"].split(",")), "CONFIG_LSM (no lsm= at boot)"
    return None, ""


# --- the thin reader ------------------------------------------------------------------------------


def _read(path: str) -> str | None:
    try:
        return Path(path).read_text(errors="replace")
    except OSError:
        return None


def _read_config() -> tuple[dict[str, str] | None, str]:
    try:
        return parse_config(gzip.decompress(Path("/proc/config.gz").read_bytes()).decode()), "/proc/config.gz"
    except (OSError, EOFError, gzip.BadGzipFile, UnicodeDecodeError):
        pass
    boot = f"/boot/config-{platform.release()}"
    text = _read(boot)
    return (parse_config(text), boot) if text is not None else (None, "")


def _tracefs_entries(point: str | None) -> frozenset[str] | None:
    if point is None:
        return None
    try:
        return frozenset(p.name for p in Path(point).iterdir())
    except OSError:
        return None


def _probe_all(load_probe: LoadProbeFn) -> dict[int, kernel.LoadProbe]:
    """A test program of each probed type loaded; a tracing or LSM one against its kernel
    function, found in the kernel's BTF (none found: that type is not probed)."""
    found: dict[int, kernel.LoadProbe] = {}
    for spec in SPECS:
        if spec.prog_type is None:
            continue
        if spec.attach is None:
            found[spec.prog_type] = load_probe(spec.prog_type, 0, 0)
        elif (btf_id := kernel.function_btf_id(spec.attach[1])) is not None:
            found[spec.prog_type] = load_probe(spec.prog_type, spec.attach[0], btf_id)
    return found


def read_evidence(load_probe: LoadProbeFn | None = None) -> Evidence:
    """Read what this kernel shows of itself; `load_probe` (with privilege) tries program types."""
    config, config_source = _read_config()
    kallsyms = _read("/proc/kallsyms")
    symbols = parse_kallsyms(kallsyms, wanted_symbols()) if kallsyms else None
    mounts = _read("/proc/mounts") or ""
    point = tracefs_mount(mounts) or next((p for p in _TRACEFS_POINTS if Path(p, "events").is_dir()), None)
    lsms, lsm_source = active_lsms(_read("/sys/kernel/security/lsm"), _read("/proc/cmdline") or "", config)
    filesystems = _read("/proc/filesystems")
    return Evidence(
        paths=frozenset(p for p in wanted_paths() if Path(p).exists()),
        filesystems=frozenset(line.split()[-1] for line in filesystems.splitlines() if line.split())
        if filesystems is not None
        else None,
        tracefs=_tracefs_entries(point),
        tracefs_point=point,
        config=config,
        config_source=config_source,
        symbols=symbols,
        lsms=lsms,
        lsm_source=lsm_source,
        prog_loads=_probe_all(load_probe) if load_probe else {},
        caps=kernel.effective_capabilities() if load_probe else None,
    )


def this_kernel(load_probe: LoadProbeFn | None = None) -> dict[str, Mechanism]:
    """Every mechanism's verdict on the running kernel."""
    return decide_all(read_evidence(load_probe))
