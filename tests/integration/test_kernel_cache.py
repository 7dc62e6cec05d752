"""The kernel cache with the real apt and a real Debian kernel (6.1, shared with test_kernels):
an offline apt-get update poisons nothing, a damaged image is fetched again (issue #20).

Each test works on a cache of its own (BUILDBPF_CACHE_DIR) seeded from ~/.cache/buildbpf, so
the shared cache other runs use is never damaged; the helpers' cache is shared by a link.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from buildbpf import _fs
from buildbpf.kernels import catalog, fetch, qemu
from buildbpf.toolchain import Toolchain
from tests.integration.conftest import FIXTURES, buildbpf, cargo_build_ebpf
from tests.support import skip_or_fail

SERIES = "6.1"


@pytest.fixture(scope="module", autouse=True)
def vm_tools() -> None:
    for tool in (qemu.QEMU, "apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            skip_or_fail(f"{tool} is not installed (./bootstrap installs qemu-system-x86)")


@pytest.fixture(scope="module")
def shared_kernel() -> fetch.Kernel:
    """The 6.1 kernel in the shared cache (fetched once, ~25 MB, when it is not there yet)."""
    return fetch.resolve(SERIES, use_lock=False)


def own_cache(tmp_path: Path) -> Path:
    """A cache directory for one test: the helpers' builds are the shared ones."""
    cache = tmp_path / "cache"
    cache.mkdir()
    (_fs.cache_home() / "loader").mkdir(parents=True, exist_ok=True)
    (cache / "loader").symlink_to(_fs.cache_home() / "loader")
    return cache


def offline(monkeypatch: pytest.MonkeyPatch) -> None:
    """apt's sources on a port nobody listens on: `apt-get update` still exits 0."""
    sources = catalog.SOURCES
    unreachable = tuple((f"http://127.0.0.1:9/{uri.rsplit('/', 1)[1]}", suite) for uri, suite in sources)
    monkeypatch.setattr(catalog, "SOURCES", unreachable)


def test_an_offline_update_poisons_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shared_kernel: fetch.Kernel
) -> None:
    base = own_cache(tmp_path) / "kernels"
    base.mkdir()
    with monkeypatch.context() as patch:
        offline(patch)
        with pytest.raises(fetch.FetchError) as caught:
            fetch.resolve(SERIES, base, use_lock=False)
    assert caught.value.exit_code == 9
    assert caught.value.message.startswith("could not fetch Debian's package lists: http://127.0.0.1:9/")
    assert not (base / "apt" / "lists" / fetch.STAMP).exists()
    # online again, at once: the lists are fetched, the cached kernel answers
    shutil.copytree(shared_kernel.vmlinuz.parent, base / "images" / shared_kernel.vmlinuz.parent.name)
    kernel = fetch.resolve(SERIES, base, use_lock=False)
    assert kernel.series == SERIES and kernel.sha256 == shared_kernel.sha256
    assert fetch.lists_complete(base / "apt" / "lists")
    assert (base / "apt" / "lists" / fetch.STAMP).is_file()


@pytest.fixture(scope="module")
def minimal_object(toolchain: Toolchain, tmp_path_factory: pytest.TempPathFactory) -> Path:
    crate = tmp_path_factory.mktemp("kernel-cache") / "minimal-ebpf"
    shutil.copytree(FIXTURES / "minimal-ebpf", crate, ignore=shutil.ignore_patterns("target"))
    _, executables = cargo_build_ebpf(toolchain, crate)
    return executables[0]


def test_a_corrupted_cached_kernel_is_fetched_again_and_checks(
    tmp_path: Path, shared_kernel: fetch.Kernel, minimal_object: Path
) -> None:
    cache = own_cache(tmp_path)
    kernels = cache / "kernels"
    shutil.copytree(fetch.root() / "apt", kernels / "apt", ignore=shutil.ignore_patterns("partial", "lock"))
    entry = kernels / "images" / shared_kernel.vmlinuz.parent.name
    shutil.copytree(shared_kernel.vmlinuz.parent, entry)
    image = bytearray((entry / "vmlinuz").read_bytes())
    image[len(image) // 2] ^= 0xFF  # one flipped byte: before, the guest hung for 90 s every run
    (entry / "vmlinuz").write_bytes(bytes(image))
    env = {**os.environ, "BUILDBPF_CACHE_DIR": str(cache)}
    done = buildbpf("check", str(minimal_object), "--kernel", SERIES, "--json", env=env, timeout=900)
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"the cached kernel {shared_kernel.name} is damaged ({entry / 'vmlinuz'}" in done.stderr
    assert f"downloading Linux {shared_kernel.name}" in done.stderr
    [column] = json.loads(done.stdout)["kernels"]["columns"]
    assert column["error"] is None, column
    assert (entry / "vmlinuz").read_bytes() == shared_kernel.vmlinuz.read_bytes()
