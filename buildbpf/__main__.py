"""Entry point for `buildbpf` and `python -m buildbpf`."""

from __future__ import annotations

import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Run buildbpf; `--version` answers before the CLI framework is imported. Without `argv`
    buildbpf is the process: SIGTERM is then handled as Ctrl-C (exit 143)."""
    started = time.monotonic()  # a build reports the time it took from here
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from buildbpf import __version__

        print(f"buildbpf {__version__}")
        return 0
    if argv is None:
        from buildbpf._child import handle_signals

        handle_signals()  # SIGTERM: children stopped, one line, exit 143; Ctrl-Z stops them too
    try:
        return _run(args, started)
    except KeyboardInterrupt as interrupt:  # while starting up, before run_cli catches it
        from buildbpf.errors import Interrupted, render

        return render(Interrupted.by(interrupt))


def _run(args: list[str], started: float) -> int:
    handover = None
    if args[:1] == ["build"]:
        from buildbpf.build.replay import Handover, replay

        handover = Handover(started)
        try:
            code = replay(args, handover)  # a no-op build replayed without loading the workspace again
        except OSError:  # stdout closed under it, say: the full path reports it without a traceback
            code = None
        if code is not None:
            return code
    from buildbpf.cli.app import run_cli

    return run_cli(args, handover)


if __name__ == "__main__":
    sys.exit(main())
