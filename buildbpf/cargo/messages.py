"""The one reader of cargo's JSON messages (`--message-format json-render-diagnostics`).

Standard library only, imported lazily: the replay fast path (build/replay.py) asks
`all_fresh` before anything heavy is loaded, and `json` alone pulls in `re`.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing itself costs 8 ms to import; mypy honours this name
if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path
    from typing import Any


def _messages(stdout: str, reason: str) -> Iterator[dict[str, Any]]:
    """cargo's messages of one `reason`, skipping lines that are not JSON objects."""
    import json

    for line in stdout.splitlines():
        if not line.startswith("{") or f'"{reason}"' not in line:
            continue
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(message, dict) and message.get("reason") == reason:
            yield message


def _artifacts(stdout: str) -> Iterator[dict[str, Any]]:
    """cargo's `compiler-artifact` messages that name an executable."""
    return (m for m in _messages(stdout, "compiler-artifact") if m.get("executable"))


def executables(stdout: str) -> list[Path]:
    """Executables cargo reports in its JSON messages (never guess target paths)."""
    from pathlib import Path

    return [Path(message["executable"]) for message in _artifacts(stdout)]


def rebuilt_executables(stdout: str) -> set[Path]:
    """Executables of units cargo compiled in this run (`"fresh": false`), not reused ones."""
    from pathlib import Path

    return {Path(message["executable"]) for message in _artifacts(stdout) if message.get("fresh") is False}


def package_name(package_id: str) -> str:
    """`path+file:///ws/a#b@0.1.0` -> b; `path+file:///ws/a#0.1.0` -> a (name = directory)."""
    url, _, fragment = package_id.rpartition("#")
    if "@" in fragment:
        return fragment.split("@", 1)[0]
    return url.rstrip("/").rsplit("/", 1)[-1]


def build_script_out_dirs(stdout: str) -> dict[str, Path]:
    """OUT_DIR of each package's build script, from its `build-script-executed` message."""
    from pathlib import Path

    return {
        package_name(message["package_id"]): Path(message["out_dir"])
        for message in _messages(stdout, "build-script-executed")
    }


def all_fresh(stdout: str) -> bool:
    """Whether cargo's JSON messages report every compiled unit fresh.

    A substring test, not a parse: cargo writes compact JSON with `reason` first, and this
    runs on every replayed call, where loading `json` would cost more than the check.
    """
    return all(
        '"fresh":true' in line
        for line in stdout.splitlines()
        if line.startswith('{"reason":"compiler-artifact"')
    )
