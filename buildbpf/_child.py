"""Children die with buildbpf, however it dies, and so does everything they started.

Each child runs in a process group of its own (`in_child`, between fork and exec), so that
stopping it stops what it started too: cargo's rustc, build scripts, bpf-linker (`stop`).
When buildbpf itself is killed (SIGKILL, a crash) two things act: Linux's PR_SET_PDEATHSIG
sends the child SIGKILL, and the reaper, a small shell started with the first child, kills
every group still registered with it once the pipe only buildbpf writes to closes (the
child's own children have no parent death signal: without the reaper a SIGKILLed buildbpf
left rustc compiling for seconds). A terminal's Ctrl-C now reaches buildbpf alone, which
stops the group itself; SIGTERM raises `Terminated`, a KeyboardInterrupt, so it takes the
same way out; Ctrl-Z stops the groups with buildbpf, and `fg` continues them. Standard
library only (the replay path runs it): not even `signal` (enum costs 7 ms), and ctypes is
imported in the child.
"""

from __future__ import annotations

import _thread
import os
import sys
import time

TYPE_CHECKING = False  # typing and types cost milliseconds the replay path does not spend
if TYPE_CHECKING:
    from types import FrameType
    from typing import ClassVar

PR_SET_PDEATHSIG = 1
SIGINT, SIGKILL, SIGTERM, SIGCONT, SIGSTOP, SIGTSTP = 2, 9, 15, 18, 19, 20  # Linux's numbers
STOP_GRACE = 5.0  # seconds a stopped child gets to exit before SIGKILL

# Reads `PGID` (register) and `-PGID` (forget) lines; at EOF, when buildbpf has exited or died,
# kills the groups still registered. In its own session: a terminal's or a group's signals
# meant for buildbpf do not stop it before it has done that.
_REAPER = """cd / && trap '' INT HUP TERM
groups=
while read -r group; do
  case $group in
    -*) kept=; for g in $groups; do [ "$g" = "${group#-}" ] || kept="$kept $g"; done; groups=$kept ;;
    *) groups="$groups $group" ;;
  esac
done
for g in $groups; do kill -s KILL -- "-$g"; done 2>/dev/null
"""


class _Reaper:
    """The one reaper of this buildbpf: its pid and the write end of its pipe, once started."""

    lock = _thread.allocate_lock()  # boots start VMs from several threads
    tried = False
    pid = 0
    write = -1
    suspended_with_buildbpf: ClassVar[set[int]] = set()  # the groups Ctrl-Z stops with buildbpf


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C raises KeyboardInterrupt: every cleanup runs as for Ctrl-C."""


def _terminate(_signum: int, _frame: FrameType | None) -> None:
    raise Terminated


def _suspend(_signum: int, _frame: FrameType | None) -> None:
    """Ctrl-Z: the terminal stops buildbpf's group, which its children have left: stop theirs
    too, then buildbpf; on `fg` continue them."""
    groups = list(_Reaper.suspended_with_buildbpf)
    for group in groups:
        _killpg(group, SIGSTOP)
    os.kill(os.getpid(), SIGSTOP)
    for group in groups:
        _killpg(group, SIGCONT)


def handle_signals() -> None:
    """From now on SIGTERM raises `Terminated` in the main thread, and Ctrl-Z (SIGTSTP) stops
    the children with buildbpf."""
    if sys.platform.startswith("linux"):
        import _signal  # type: ignore[import-not-found]  # signal's C half, without enum

        _signal.signal(SIGTERM, _terminate)
        if _signal.getsignal(SIGTSTP) == _signal.SIG_DFL:  # not ignored (no job control)
            _signal.signal(SIGTSTP, _suspend)


def signal_for(interrupt: BaseException) -> int:
    """What to stop a child with when buildbpf is stopped by `interrupt`: what it got."""
    return SIGTERM if isinstance(interrupt, Terminated) else SIGINT


def _start_reaper() -> None:
    with _Reaper.lock:
        if _Reaper.tried or not sys.platform.startswith("linux"):
            return
        _Reaper.tried = True
        read, write = os.pipe2(os.O_CLOEXEC)  # only buildbpf keeps the write end open
        quiet = [(os.POSIX_SPAWN_OPEN, fd, os.devnull, os.O_WRONLY, 0) for fd in (1, 2)]
        try:
            _Reaper.pid = os.posix_spawn("/bin/sh", ["buildbpf-reaper", "-c", _REAPER], os.environ,
                                         file_actions=[(os.POSIX_SPAWN_DUP2, read, 0), *quiet],
                                         setsid=True)  # fmt: skip
            _Reaper.write = write
        except OSError:  # no /bin/sh: the parent death signal alone acts
            os.close(write)
        finally:
            os.close(read)


def _tell(line: bytes) -> None:
    if _Reaper.write >= 0:
        try:
            os.write(_Reaper.write, line)
        except OSError:  # the reaper is gone (killed by hand): the death signal still acts
            return


def guard(pgid: int, *, ctrl_z: bool = True) -> None:
    """Have the reaper kill the group of child `pgid` if buildbpf dies; right after the
    spawn, before that child has had time to start anything. `ctrl_z`: Ctrl-Z stops it too."""
    if not _Reaper.tried:
        _start_reaper()
    if ctrl_z:
        _Reaper.suspended_with_buildbpf.add(pgid)
    _tell(b"%d\n" % pgid)


def forget(pgid: int) -> None:
    """Tell the reaper the group of a child buildbpf waited for is none of its business now."""
    _Reaper.suspended_with_buildbpf.discard(pgid)
    _tell(b"-%d\n" % pgid)


def end_reaper() -> None:
    """Stop the reaper before buildbpf replaces itself (`buildbpf run`), so that it is no
    child of the program that takes buildbpf's place."""
    with _Reaper.lock:
        if _Reaper.write >= 0:
            os.close(_Reaper.write)
            _Reaper.write = -1
            os.waitpid(_Reaper.pid, 0)


def die_with_parent(parent: int) -> None:
    """Run in the child after fork: SIGKILL when `parent` dies; exit if it already has."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def in_child(parent: int) -> None:
    """Run in the child after fork: die with `parent`, and lead a process group of its own."""
    die_with_parent(parent)
    if os.getpgrp() != os.getpid():  # a new session (QEMU's) made it a group leader already
        os.setpgid(0, 0)


def _killpg(pgid: int, signal: int) -> None:
    try:
        os.killpg(pgid, signal)
    except (ProcessLookupError, PermissionError):  # all gone already
        return


def stop(pid: int, first: int, grace: float = STOP_GRACE) -> None:
    """Stop the group child `pid` leads: `first`, then SIGKILL for whatever is left once `pid`
    has exited or after `grace` seconds. `pid` is not waited for: until it is, its group id
    cannot be reused, so the SIGKILL reaches nobody else."""
    _killpg(pid, first)
    deadline = time.monotonic() + grace
    while first != SIGKILL and time.monotonic() < deadline:
        try:
            if os.waitid(os.P_PID, pid, os.WEXITED | os.WNOHANG | os.WNOWAIT) is not None:
                break
        except ChildProcessError:
            break
        time.sleep(0.02)
    _killpg(pid, SIGKILL)
