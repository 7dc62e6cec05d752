"""`_process` with real processes: what a cargo call that ran out of time is said to need."""

from __future__ import annotations

import pytest

from buildbpf import _process
from buildbpf.errors import CargoError


@pytest.mark.parametrize(
    ("said", "words"),
    [
        ("    Blocking waiting for file lock on build directory", "another cargo is using the target dir"),
        ("   Compiling probe v0.1.0", "a build script may be stuck"),
    ],
)
def test_a_timeout_says_why_from_what_cargo_said(said: str, words: str) -> None:
    """Only cargo's own lock wait blames another cargo; otherwise its build (a nested cargo,
    say) was still running."""
    with pytest.raises(CargoError) as caught:
        _process.run(["sh", "-c", f"echo '{said}' >&2; exec sleep 30"], stream=False, timeout=1)
    assert words in (caught.value.fix or ""), caught.value.fix
    if "Blocking" not in said:
        assert "another cargo" not in (caught.value.fix or "")
