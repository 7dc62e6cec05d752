"""What every child process does between fork and exec: die with buildbpf.

Without it a SIGKILLed buildbpf leaves cargo running, holding the build directory lock the
next build then waits on. Linux's PR_SET_PDEATHSIG sends the child SIGKILL when its parent
dies, however it dies; elsewhere this does nothing. Standard library only (the replay path
runs it), and ctypes is imported in the child, never in buildbpf itself.
"""

from __future__ import annotations

import os
import sys

PR_SET_PDEATHSIG = 1
SIGKILL = 9


def die_with_parent(parent: int) -> None:
    """Run in the child after fork: SIGKILL when `parent` dies; exit if it already has."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)
