"""Integration tests use the real toolchain and kernel; in CI a missing piece is a failure."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from buildbpf import _process
from buildbpf._process import Completed
from buildbpf.build import plan
from buildbpf.cargo import messages
from buildbpf.errors import BuildbpfError
from buildbpf.toolchain import Toolchain, resolve
from tests.support import skip_or_fail

FIXTURES = Path(__file__).parent / "fixtures"

# Started with SIGINT ignored (`cmd &` in a script without job control, some CI agents), every
# child inherits that, and the tests that press Ctrl-C on buildbpf would watch it ignore the
# key. A terminal's Ctrl-C is what they stand for: children start with the default again.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "integration" in str(item.path):
            item.add_marker(pytest.mark.integration)


@pytest.fixture(scope="session")
def toolchain() -> Toolchain:
    try:
        return resolve()
    except BuildbpfError as error:
        skip_or_fail(f"no usable eBPF toolchain: {error.message} (fix: {error.fix})")
        raise


@pytest.fixture(scope="session")
def shared_target(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One CARGO_TARGET_DIR for every workspace keeps CI time bounded (aya is built once)."""
    return tmp_path_factory.mktemp("target")


@pytest.fixture
def fixture_crate(tmp_path: Path):  # type: ignore[no-untyped-def]
    def copy(name: str) -> Path:
        destination = tmp_path / name
        shutil.copytree(FIXTURES / name, destination, ignore=shutil.ignore_patterns("target"))
        return destination

    return copy


def cargo_build_ebpf(
    toolchain: Toolchain,
    crate: Path,
    target: str = "bpfel",
    *,
    btf: bool = True,
    target_dir: Path | None = None,
) -> tuple[Completed, list[Path]]:
    """Build one eBPF crate with exactly the cargo call buildbpf plans; (result, executables)."""
    call = plan.ebpf_build(
        cargo=toolchain.rust.cargo,
        cargo_env=toolchain.rust.cargo_env(),
        linker=toolchain.linker.path,
        crate_dir=crate,
        target=target,
        btf=btf,
        environ=os.environ,
    )
    env_set = {**call.env_set, **({"CARGO_TARGET_DIR": str(target_dir)} if target_dir else {})}
    done = _process.run(call.argv, cwd=call.cwd, env_set=env_set, env_remove=call.env_remove, stream=False,
                   check=False, timeout=900)  # fmt: skip
    assert done.returncode == 0, f"{crate.name} ({target}) failed:\n{done.stderr[-4000:]}"
    return done, messages.executables(done.stdout)


def buildbpf(
    *args: str, env: Mapping[str, str] | None = None, cwd: Path | None = None, timeout: float = 1200
) -> subprocess.CompletedProcess[str]:
    """Run the real CLI in a child process, as a user would."""
    return subprocess.run(
        [sys.executable, "-m", "buildbpf", *args],
        capture_output=True,
        text=True,
        env=dict(env if env is not None else os.environ),
        cwd=cwd,
        timeout=timeout,
        check=False,
    )
