"""The result of `check --kernel`: one row per program, one column per kernel.

Cells: `pass` (with the instructions the verifier processed, or translated where the
kernel does not count them), `fail` (the verifier's last lines and a reason in words),
`cannot attach` (the kernel lacks the function the program attaches to), `not verified`
(nothing was judged, and why). A kernel whose VM gave no verdict has an `error` column:
an infrastructure failure, never a pass nor a verifier failure.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass, field
from typing import Any

from buildbpf.objects.check import OWN_NAME
from buildbpf.objects.verifier import KernelFacts, ProgramLoad, judge, parse_output

EXIT_FAIL = 5
EXIT_INFRA = 9
ALL_CAPS = (1 << 64) - 1  # the helper is PID 1 of its VM: every capability

# helper id -> (name, first Linux release), from include/uapi/linux/bpf.h; the ids before 130
# are older than every kernel the table offers
_HELPERS_FROM_130 = [
    ("ringbuf_output", "5.8"), ("ringbuf_reserve", "5.8"), ("ringbuf_submit", "5.8"),
    ("ringbuf_discard", "5.8"), ("ringbuf_query", "5.8"), ("csum_level", "5.8"),
    ("skc_to_tcp6_sock", "5.9"), ("skc_to_tcp_sock", "5.9"), ("skc_to_tcp_timewait_sock", "5.9"),
    ("skc_to_tcp_request_sock", "5.9"), ("skc_to_udp6_sock", "5.9"), ("get_task_stack", "5.9"),
    ("load_hdr_opt", "5.10"), ("store_hdr_opt", "5.10"), ("reserve_hdr_opt", "5.10"),
    ("inode_storage_get", "5.10"), ("inode_storage_delete", "5.10"), ("d_path", "5.10"),
    ("copy_from_user", "5.10"), ("snprintf_btf", "5.10"), ("seq_printf_btf", "5.10"),
    ("skb_cgroup_classid", "5.10"), ("redirect_neigh", "5.10"), ("per_cpu_ptr", "5.10"),
    ("this_cpu_ptr", "5.10"), ("redirect_peer", "5.10"), ("task_storage_get", "5.11"),
    ("task_storage_delete", "5.11"), ("get_current_task_btf", "5.11"), ("bprm_opts_set", "5.11"),
    ("ktime_get_coarse_ns", "5.11"), ("ima_inode_hash", "5.11"), ("sock_from_file", "5.11"),
    ("check_mtu", "5.12"), ("for_each_map_elem", "5.13"), ("snprintf", "5.13"), ("sys_bpf", "5.14"),
    ("btf_find_by_name_kind", "5.14"), ("sys_close", "5.14"), ("timer_init", "5.15"),
    ("timer_set_callback", "5.15"), ("timer_start", "5.15"), ("timer_cancel", "5.15"),
    ("get_func_ip", "5.15"), ("get_attach_cookie", "5.15"), ("task_pt_regs", "5.15"),
    ("get_branch_snapshot", "5.16"), ("trace_vprintk", "5.16"), ("skc_to_unix_sock", "5.16"),
    ("kallsyms_lookup_name", "5.16"), ("find_vma", "5.17"), ("loop", "5.17"), ("strncmp", "5.17"),
    ("get_func_arg", "5.17"), ("get_func_ret", "5.17"), ("get_func_arg_cnt", "5.17"),
    ("get_retval", "5.18"), ("set_retval", "5.18"), ("xdp_get_buff_len", "5.18"),
    ("xdp_load_bytes", "5.18"), ("xdp_store_bytes", "5.18"), ("copy_from_user_task", "5.18"),
    ("skb_set_tstamp", "5.18"), ("ima_file_hash", "5.18"), ("kptr_xchg", "5.19"),
    ("map_lookup_percpu_elem", "5.19"), ("skc_to_mptcp_sock", "5.19"), ("dynptr_from_mem", "5.19"),
    ("ringbuf_reserve_dynptr", "5.19"), ("ringbuf_submit_dynptr", "5.19"),
    ("ringbuf_discard_dynptr", "5.19"), ("dynptr_read", "5.19"), ("dynptr_write", "5.19"),
    ("dynptr_data", "5.19"), ("tcp_raw_gen_syncookie_ipv4", "6.0"), ("tcp_raw_gen_syncookie_ipv6", "6.0"),
    ("tcp_raw_check_syncookie_ipv4", "6.0"), ("tcp_raw_check_syncookie_ipv6", "6.0"),
    ("ktime_get_tai_ns", "6.1"), ("user_ringbuf_drain", "6.1"), ("cgrp_storage_get", "6.2"),
    ("cgrp_storage_delete", "6.2"),
]  # fmt: skip
HELPERS: dict[int, tuple[str, str]] = {130 + i: (f"bpf_{n}", v) for i, (n, v) in enumerate(_HELPERS_FROM_130)}


@dataclass
class Cell:
    status: str  # "pass", "fail", "cannot attach", "not verified"
    insns: int | None = None
    reason: str | None = None
    error: str | None = None
    log_tail: list[str] = field(default_factory=list)
    source: str | None = None  # where in the Rust source the verifier refused it: `src/main.rs:42:9`


@dataclass
class Column:
    request: str  # what the user asked for: "5.10", "latest", "path:..."
    name: str  # the kernel: "5.10.0-46", or the image's file name
    release: str | None = None  # what the guest's uname said
    accel: str | None = None
    seconds: float | None = None
    error: str | None = None  # no verdict from this kernel (infrastructure)
    console: str | None = None
    packages: list[dict[str, str]] = field(default_factory=list)
    sha256: str = ""
    booted: bool = True  # False: no object this kernel could load, so it was not started


@dataclass
class Row:
    object: str
    program: str
    type: str
    cells: dict[str, Cell] = field(default_factory=dict)  # column request -> cell


@dataclass
class LayoutCell:
    """An object's kernel structs on one kernel: `same`, `differs`, or `unknown` (no BTF read)."""

    status: str
    differences: list[str] = field(default_factory=list)  # `task_struct.pid: byte 8 here, 2232 on …`
    reason: str | None = None  # why `unknown`


@dataclass
class LayoutRow:
    """The kernel structs one object reads at fixed offsets, kernel by kernel (no boot needed:
    each kernel's BTF comes from its image)."""

    object: str
    types: list[str]
    cells: dict[str, LayoutCell] = field(default_factory=dict)  # column request -> cell

    @property
    def matches(self) -> list[str]:
        """The kernels whose layout is exactly the object's: where its bindings likely come from."""
        return [request for request, cell in self.cells.items() if cell.status == "same"]


@dataclass
class Matrix:
    columns: list[Column] = field(default_factory=list)
    rows: list[Row] = field(default_factory=list)
    object_errors: list[dict[str, str]] = field(default_factory=list)  # object, kernel, error
    layouts: list[LayoutRow] = field(default_factory=list)
    strict_layout: bool = False  # a layout that differs fails the check (exit 5), not only warns

    def exit_code(self) -> int:
        """9 when a kernel gave no verdict (the check is incomplete), 5 when a cell fails or cannot
        attach, else 0."""
        if any(c.error for c in self.columns):
            return EXIT_INFRA
        failed = any(c.status in ("fail", "cannot attach") for r in self.rows for c in r.cells.values())
        if self.strict_layout:
            failed = failed or any(c.status == "differs" for r in self.layouts for c in r.cells.values())
        return EXIT_FAIL if failed or self.object_errors else 0

    def as_json(self) -> dict[str, Any]:
        return {**asdict(self), "exit_code": self.exit_code()}


def translate(log: str, error: str | None, program_type: str) -> str:
    """The verifier's refusal in words: what is missing, and since when it exists."""
    if match := re.search(r"invalid func unknown#(\d+)", log):
        number = int(match.group(1))
        if number in HELPERS:
            name, since = HELPERS[number]
            return f"helper {number} ({name}) does not exist before {since}"
        return f"helper {number} does not exist in this kernel"
    if match := re.search(r"unknown func (\w+)#(\d+)", log):
        return f"helper {match.group(2)} ({match.group(1)}) is not allowed in {program_type} programs here"
    if "back-edge" in log:
        return "loops need Linux 5.3 or newer (or bpf-linker --unroll-loops)"
    if "BPF program is too large" in log or re.search(r"processed 1000001 insn", log):
        return "too complex for this kernel's verifier (instruction limit)"
    if "stack size" in log and "too large" in log:
        return "the stack exceeds 512 bytes"
    lines = judgement(log)
    return lines[-1].strip() if lines else (error or "refused")


_STATS = ("verification time", "stack depth", "processed ", "subprog ", "max_states", "Suggestion:")


def judgement(log: str) -> list[str]:
    """The log without the statistics and advice the kernel appends after its verdict."""
    lines = [line for line in log.rstrip().splitlines() if line.strip()]
    for index, line in enumerate(lines):
        if line.startswith("verification time"):
            lines = lines[:index]
            break
    return [line for line in lines if not line.startswith((*_STATS, " ", "\t"))]


def _cell(load: ProgramLoad, full_log: bool = False) -> Cell:
    base = load.type.split("(", 1)[0]
    if load.status == "verified":
        return Cell("pass", load.verified_insns or load.translated_insns)
    if load.needs == "attach":  # the helper looked its BTF attach target up, as Aya does (PITFALLS #35)
        return Cell("cannot attach", reason=load.error, error=load.error)
    if load.status == "not verified":
        return Cell("not verified", reason=load.reason, error=load.error)
    log = load.verifier_log or ""
    tail = log.rstrip().splitlines() if full_log else judgement(log)[-15:]
    return Cell("fail", reason=translate(log, load.error, base), error=load.error, log_tail=tail)


@dataclass
class GuestOutput:
    """One guest's lines, sorted: facts, each object's lines, attach targets it looked up."""

    facts: KernelFacts = field(default_factory=KernelFacts)
    release: str | None = None
    per_object: dict[str, list[str]] = field(default_factory=dict)
    attach: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # (object, function)


def _attachable(cell: Cell, target: dict[str, Any] | None) -> Cell:
    """A verified program whose kprobe or tracepoint does not exist here cannot attach."""
    if cell.status != "pass" or target is None or target["found"]:
        return cell
    where = "tracefs" if target["kind"] == "tracepoint" else "/proc/kallsyms"
    reason = f"{target['kind']} {target['target']} is not in this kernel's {where}"
    if target["target"] == target["function"]:  # aya-bpf's macros named sections so (PITFALLS #36)
        reason += OWN_NAME
    return Cell("cannot attach", cell.insns, reason=reason)


def split_objects(lines: list[str]) -> GuestOutput:
    """The guest's lines, by object."""
    import json

    out = GuestOutput()
    current: list[str] = []
    for line in lines:
        if line.startswith('{"kernel"'):
            _, _, out.facts = parse_output(line)
            out.release = json.loads(line)["kernel"].get("release")
        elif line.startswith('{"attach"'):
            found = json.loads(line)["attach"]
            out.attach[(found["object"], found["function"])] = found
        elif line.startswith('{"object"'):
            current = out.per_object.setdefault(json.loads(line)["object"], [])
        elif line.startswith("{"):
            current.append(line)
    return out


def add_kernel(
    matrix: Matrix, column: Column, lines: list[str], labels: dict[str, str], *, full_log: bool = False
) -> None:
    """Put one kernel's guest output into `matrix`. `labels`: guest path -> object name;
    `full_log`: a failed cell keeps the whole verifier log, not its last verdict lines."""
    guest = split_objects(lines)
    column.release = guest.release
    for path, label in labels.items():
        loads, object_error, _ = parse_output("\n".join(guest.per_object.get(path, [])))
        if object_error is not None:
            matrix.object_errors.append({"object": label, "kernel": column.request, "error": object_error})
        for load in loads:
            judged = judge(load, guest.facts, ALL_CAPS)
            row = next((r for r in matrix.rows if (r.object, r.program) == (label, load.name)), None)
            if row is None:
                row = Row(label, load.name, load.type)
                matrix.rows.append(row)
            found = guest.attach.get((path, load.name))
            row.cells[column.request] = _attachable(_cell(judged, full_log), found)


def _text(cell: Cell | None, column: Column) -> str:
    if column.error:
        return "ERROR"
    if cell is None:
        return "-"
    if cell.status == "pass":
        return f"pass ({cell.insns})" if cell.insns is not None else "pass"
    return {"fail": "FAIL"}.get(cell.status, cell.status)


def render(matrix: Matrix, full_log: bool = False) -> list[str]:
    """The matrix as text: the table, then what each kernel is, then every failure explained
    (with the verifier's last 6 lines, or every line kept with `full_log`)."""
    names = [f"{r.object} {r.program}" for r in matrix.rows]
    first = max([len("program"), *map(len, names)])
    columns = [(c, max(len(c.request), 14)) for c in matrix.columns]
    out = ["  ".join(["program".ljust(first), *(c.request.ljust(w) for c, w in columns)]).rstrip()]
    for name, row in zip(names, matrix.rows, strict=True):
        cells = [_text(row.cells.get(c.request), c).ljust(w) for c, w in columns]
        out.append("  ".join([name.ljust(first), *cells]).rstrip())
    for layout in matrix.layouts:
        cells = [_layout_text(layout.cells.get(c.request)).ljust(w) for c, w in columns]
        out.append("  ".join([f"{layout.object} layout".ljust(first), *cells]).rstrip())
    out.append("")
    for column in matrix.columns:
        if not column.booted:
            out.append(f"{column.request}: not booted (nothing it could load)")
            continue
        where = ", ".join(f"{p['name']} {p['version']}" for p in column.packages) or column.name
        timing = f", {column.accel}, {column.seconds:.1f} s" if column.seconds is not None else ""
        out.append(f"{column.request}: Linux {column.release or column.name} ({where}{timing})")
        if column.error:
            out.append(f"  ERROR: {column.error}")
            out += [f"    | {line}" for line in (column.console or "").splitlines()[-8:]]
    for row in matrix.rows:
        for request, cell in row.cells.items():
            if cell.status == "pass":
                continue
            out.append(f"{row.object} {row.program} on {request}: {cell.status}: {cell.reason or cell.error}")
            if cell.source:
                out.append(f"    at {cell.source}")
            out += [f"    | {line}" for line in (cell.log_tail if full_log else cell.log_tail[-6:])]
    out += [f"{e['object']} on {e['kernel']}: object refused: {e['error']}" for e in matrix.object_errors]
    out += _layout_lines(matrix)
    return out


def _layout_text(cell: LayoutCell | None) -> str:
    if cell is None:
        return "-"
    if cell.status == "differs":
        return f"differs ({len(cell.differences)})"
    return cell.status


def _layout_lines(matrix: Matrix) -> list[str]:
    """Per object: the kernel structs it reads, every field that differs, where it matches."""
    out = []
    for layout in matrix.layouts:
        out.append(f"{layout.object} reads kernel structs at fixed offsets (Rust eBPF has no CO-RE): "
                   f"{', '.join(layout.types)}")  # fmt: skip
        for request, cell in layout.cells.items():
            if cell.status == "unknown":
                out.append(f"  on {request}: not compared: {cell.reason}")
            out += [f"  {difference}" for difference in cell.differences]
        if layout.matches and len(layout.matches) < len(layout.cells):
            out.append(f"  its layout is {', '.join(layout.matches)}'s exactly: the program reads the wrong "
                       "bytes on the other kernels; regenerate the bindings for the oldest kernel you deploy "
                       "to (`min_kernel`), or read those fields through helpers, tracepoints or fentry "
                       "arguments")  # fmt: skip
    return out
