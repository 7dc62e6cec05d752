"""Where `buildbpf init` finds its templates: a checkout's `templates/` or the wheel's copy."""

from __future__ import annotations

from pathlib import Path

from buildbpf.errors import ConfigError


def templates_root() -> Path:
    """`templates/` of a checkout, or the copy shipped in the wheel (`buildbpf/_templates`)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "_templates", package.parent / "templates"):
        if (candidate / "workspace").is_dir():
            return candidate
    raise ConfigError("buildbpf's templates are missing from this installation", fix="reinstall buildbpf")
