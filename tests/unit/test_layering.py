"""Dependencies point down docs/architecture.md: `cli` above `build` above everything else.

Every import is read, also those inside functions, so a lazy import cannot hide an upward one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[2] / "buildbpf"
# what each part may not import: the parts above it
ABOVE = {
    "cli": (),
    "build": ("buildbpf.cli",),
    "kernels": ("buildbpf.cli", "buildbpf.build"),
    "scaffold": ("buildbpf.cli", "buildbpf.build", "buildbpf.kernels"),
    "objects": ("buildbpf.cli", "buildbpf.build", "buildbpf.kernels", "buildbpf.scaffold"),
    "toolchain": ("buildbpf.cli", "buildbpf.build", "buildbpf.kernels", "buildbpf.scaffold"),
    "cargo": ("buildbpf.cli", "buildbpf.build", "buildbpf.kernels", "buildbpf.scaffold", "buildbpf.objects"),
}
FOUNDATIONS = ("_fs", "_process", "_child", "errors", "xdg", "terminal")


def imported(path: Path) -> list[tuple[int, str]]:
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found += [(node.lineno, node.module)]
            if node.module == "buildbpf":  # `from buildbpf import build`
                found += [(node.lineno, f"buildbpf.{alias.name}") for alias in node.names]
    return found


def upward(path: Path, forbidden: tuple[str, ...]) -> list[str]:
    return [
        f"{path.relative_to(PACKAGE.parent)}:{line} imports {name}"
        for line, name in imported(path)
        if any(name == f or name.startswith(f + ".") for f in forbidden)
    ]


@pytest.mark.parametrize("part", sorted(ABOVE))
def test_no_part_imports_a_part_above_it(part: str) -> None:
    files = sorted((PACKAGE / part).rglob("*.py"))
    assert files
    assert [hit for f in files for hit in upward(f, ABOVE[part])] == []


def test_foundations_import_no_part() -> None:
    parts = tuple(f"buildbpf.{p}" for p in ABOVE)
    files = [PACKAGE / f"{name}.py" for name in FOUNDATIONS]
    assert all(f.is_file() for f in files)
    assert [hit for f in files for hit in upward(f, parts)] == []


def test_an_upward_import_is_seen_also_inside_a_function(tmp_path: Path) -> None:
    module = tmp_path / "workspace.py"
    module.write_text("def f():\n    from buildbpf.build.settings import Role\n    import buildbpf.cli.app\n")
    hits = [name for _, name in imported(module)]
    assert hits == ["buildbpf.build.settings", "buildbpf.cli.app"]
