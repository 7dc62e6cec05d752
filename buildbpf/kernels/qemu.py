"""Boot a kernel under QEMU with the helper as init, and read its verdicts.

The kernel's console is the first serial port (QEMU's stdout, read as it comes to kill the
VM early on a panic); the helper writes its JSON lines and the end marker on the second
one (a file). QEMU exits 0 on a guest panic too, so only the end marker makes a run
count: without it the run is an infrastructure error, never a verdict. KVM is used only
when it can work (`/dev/kvm` opens read-write, the CPU has vmx/svm, `kvm_pvm` is not
loaded); any KVM failure falls back to TCG.
"""

from __future__ import annotations

import functools
import os
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

from buildbpf import _child
from buildbpf.errors import KernelCheckError

END_MARKER = "BUILDBPF-GUEST-END"
PANIC_TEXTS = ("Kernel panic", "KVM internal error")
DEFAULT_TIMEOUT = 90.0
PARALLEL = 2  # measured: two VMs at a time is best on 2 cores
QEMU = "qemu-system-x86_64"
CMDLINE = "console=ttyS0 panic=-1 loglevel=4 rdinit=/init"


class GuestError(KernelCheckError):
    """A VM gave no verdict: QEMU missing or failing, the guest panicked or hung."""

    kind = "kernel check infrastructure error"


def qemu_binary() -> str:
    """The QEMU that boots the kernels, or a GuestError that says how to install it."""
    found = shutil.which(QEMU)
    if found is None:
        fix = "apt-get install --no-install-recommends qemu-system-x86 (./bootstrap does)"
        raise GuestError(f"{QEMU} is not installed", fix=fix)
    return found


def kvm_blocker(cpuinfo: str, modules: str) -> str | None:
    """Why KVM cannot work, from /proc/cpuinfo and /proc/modules; None when it may."""
    flags = {w for line in cpuinfo.splitlines() if line.startswith("flags") for w in line.split()}
    if not flags & {"vmx", "svm"}:
        return "the CPU has no vmx/svm (no nested virtualisation)"
    if any(line.split(" ", 1)[0] == "kvm_pvm" for line in modules.splitlines()):
        return "kvm_pvm is loaded"
    return None


def kvm_usable() -> tuple[bool, str]:
    """Whether KVM can work here, and why not."""
    try:
        os.close(os.open("/dev/kvm", os.O_RDWR | os.O_CLOEXEC))
    except OSError as exc:
        return False, f"/dev/kvm: {exc.strerror}"
    try:
        modules = Path("/proc/modules").read_text()
    except OSError:
        modules = ""
    blocker = kvm_blocker(Path("/proc/cpuinfo").read_text(errors="replace"), modules)
    return blocker is None, blocker or "kvm"


@dataclass
class Scanner:
    """Complete lines out of a byte stream that arrives in arbitrary pieces."""

    pending: bytes = b""
    lines: list[str] = field(default_factory=list)
    tail: str = ""  # the last text seen, for panic texts split across reads

    def feed(self, chunk: bytes) -> list[str]:
        """The lines completed by `chunk` (without `\\r`), also kept in `lines`."""
        self.pending += chunk
        *complete, self.pending = self.pending.split(b"\n")
        new = [line.decode(errors="replace").strip("\r") for line in complete]
        self.lines += new
        self.tail = (self.tail + chunk.decode(errors="replace"))[-400:]
        return new

    def panicked(self) -> str | None:
        """The panic text seen so far, with what follows it on its line."""
        text = self.tail
        for needle in PANIC_TEXTS:
            at = text.find(needle)
            if at >= 0:
                return text[at:].split("\n", 1)[0].strip()[:200]
        return None

    def ended(self) -> bool:
        return END_MARKER in self.lines


@dataclass
class GuestRun:
    """What one VM said: the helper's lines, and how the run ended."""

    lines: list[str]
    ended: bool
    seconds: float
    accel: str
    error: str | None = None  # why there is no verdict
    console: str = ""  # the console's last lines, for that error


_live: set[subprocess.Popen[bytes]] = set()
_live_lock = threading.Lock()


def kill_all() -> None:
    """Kill every VM still running (Ctrl-C, or an error elsewhere)."""
    with _live_lock:
        for proc in list(_live):
            _kill(proc)


def _kill(proc: subprocess.Popen[bytes]) -> None:
    with suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)


@contextmanager
def _started(argv: list[str]) -> Iterator[subprocess.Popen[bytes]]:
    # a session of its own (Ctrl-C is buildbpf's to handle), dying with buildbpf all the same;
    # in_child runs in a child of a worker thread: everything it imports is imported here already
    import ctypes  # noqa: F401

    in_child = functools.partial(_child.in_child, os.getpid())
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            start_new_session=True, preexec_fn=in_child)  # fmt: skip  # noqa: PLW1509
    _child.guard(proc.pid, ctrl_z=False)  # as before: a VM's timeout runs on while buildbpf is stopped
    with _live_lock:
        _live.add(proc)
    try:
        yield proc
    finally:
        _kill(proc)
        proc.wait()
        _child.forget(proc.pid)
        assert proc.stdout is not None
        proc.stdout.close()
        with _live_lock:
            _live.discard(proc)


def argv_for(kernel: Path, initrd: Path, results: Path, accel: str, cmdline: str = CMDLINE) -> list[str]:
    cpu = ["-accel", "kvm", "-cpu", "host"] if accel == "kvm" else ["-accel", "tcg"]
    return [
        qemu_binary(), *cpu, "-kernel", str(kernel), "-initrd", str(initrd), "-append", cmdline,
        "-m", "512", "-smp", "1", "-no-reboot", "-display", "none", "-vga", "none", "-monitor", "none",
        "-serial", "stdio", "-serial", f"file:{results}",
    ]  # fmt: skip


def _watch(proc: subprocess.Popen[bytes], results: Path, deadline: float, stop: threading.Event
           ) -> tuple[Scanner, Scanner, str | None]:  # fmt: skip
    """Read the console and the results until QEMU exits; why it was killed, or None."""
    console, output = Scanner(), Scanner()
    assert proc.stdout is not None
    os.set_blocking(proc.stdout.fileno(), False)
    offset, ended_at = 0, None
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while True:
            if selector.select(timeout=0.1):
                chunk = proc.stdout.read(65536) or b""
                console.feed(chunk)
                if not chunk and proc.poll() is not None:
                    break
            data = results.read_bytes()[offset:] if results.exists() else b""
            offset += len(data)
            output.feed(data)
            if proc.poll() is not None and not data:
                break
            if output.ended():
                ended_at = ended_at or time.monotonic()
                if time.monotonic() - ended_at > 5:
                    return console, output, None  # powered off too slowly: the verdict is in
            elif panic := console.panicked():
                return console, output, f"the guest kernel panicked: {panic}"
            if stop.is_set():
                return console, output, "interrupted"
            if time.monotonic() > deadline:
                return console, output, "timed out"
    output.feed(results.read_bytes()[offset:] if results.exists() else b"")
    return console, output, None


def boot(kernel: Path, initrd: Path, workdir: Path, *, accel: str = "tcg", timeout: float = DEFAULT_TIMEOUT,
         stop: threading.Event | None = None, cmdline: str = CMDLINE) -> GuestRun:  # fmt: skip
    """Boot `kernel` with `initrd` once; fall back from KVM to TCG when KVM fails."""
    results = workdir / f"results-{accel}"
    results.unlink(missing_ok=True)
    started = time.monotonic()
    with _started(argv_for(kernel, initrd, results, accel, cmdline)) as proc:
        console, output, killed = _watch(proc, results, started + timeout, stop or threading.Event())
    seconds = time.monotonic() - started
    text = "\n".join([*console.lines[-20:], console.pending.decode(errors="replace")]).strip()
    if accel == "kvm" and not output.lines and ("kvm" in text.lower() or killed):
        return boot(kernel, initrd, workdir, accel="tcg", timeout=timeout, stop=stop, cmdline=cmdline)
    run = GuestRun(output.lines, output.ended(), seconds, accel, None, text[-2000:])
    if not run.ended:
        run.error = killed if killed and killed != "timed out" else _no_marker(killed, timeout, text)
    return run


def _no_marker(killed: str | None, timeout: float, console: str) -> str:
    if killed == "timed out":
        return f"no verdict within {timeout:.0f} s (the guest hung or is very slow)"
    last = console.splitlines()[-1] if console else "nothing on the console"
    return f"the guest stopped without the end marker (last console line: {last[:160]})"


def run_all(jobs: list[Callable[[threading.Event], GuestRun]], parallel: int = PARALLEL) -> list[GuestRun]:
    """Run the boots, `parallel` at a time, in order; every VM is killed on Ctrl-C or error."""
    from concurrent.futures import ThreadPoolExecutor

    stop = threading.Event()
    executor = ThreadPoolExecutor(max_workers=max(1, parallel))
    try:
        futures = [executor.submit(job, stop) for job in jobs]
        return [future.result() for future in futures]
    finally:
        stop.set()  # no-op when all are done; else the watchers return at once
        kill_all()
        executor.shutdown(wait=True, cancel_futures=True)
