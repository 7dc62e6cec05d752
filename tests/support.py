"""Shared test helpers: in CI (CI=true) a missing requirement fails instead of skipping."""

from __future__ import annotations

import os

import pytest

IN_CI = os.environ.get("CI", "").lower() in ("true", "1", "yes")


def skip_or_fail(reason: str) -> None:
    """Skip on a laptop without the toolchain or kernel; fail in CI, where skips hide breakage."""
    if IN_CI:
        pytest.fail(f"CI=true and a test requirement is missing: {reason}", pytrace=False)
    pytest.skip(reason)
