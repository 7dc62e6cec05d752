"""Entry point for `buildbpf` and `python -m buildbpf`."""

from __future__ import annotations

import sys
import time


def main(argv: list[str] | None = None) -> int:
    """Run buildbpf; `--version` answers before the CLI framework is imported."""
    started = time.monotonic()  # a build reports the time it took from here
    args = sys.argv[1:] if argv is None else argv
    if args == ["--version"]:
        from buildbpf import __version__

        print(f"buildbpf {__version__}")
        return 0
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
