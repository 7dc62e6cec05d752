"""Download Debian kernels into buildbpf's cache, never installing them on the host.

apt runs with a private configuration (`APT_CONFIG`: its own sources.list, lists, cache,
no status file, none of /etc/apt's parts), `apt-get download` fetches the package, and
only vmlinuz and config are kept (~14 MB a kernel). The package versions and the sha256
of every file are recorded in `kernel.json` beside them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from buildbpf import _fs
from buildbpf._process import Completed, run
from buildbpf.errors import ConfigError, KernelCheckError
from buildbpf.kernels import catalog

LISTS_MAX_AGE = 24 * 3600  # seconds before the package lists are fetched again
REQUIRED_CONFIG = ("CONFIG_BPF_SYSCALL=y", "CONFIG_DEBUG_INFO_BTF=y")


class FetchError(KernelCheckError):
    """A kernel could not be downloaded or is not usable for checking BPF."""

    kind = "kernel fetch failed"


@dataclass
class Kernel:
    """A kernel ready to boot: its image, its config, and where they came from."""

    name: str  # what the matrix calls it: the release (`6.1.0-56`), or the file name
    series: str
    vmlinuz: Path
    config: Path | None
    packages: list[dict[str, str]] = field(default_factory=list)  # name, version, sha256
    sha256: str = ""  # of vmlinuz


def root() -> Path:
    """The kernel cache, `cache_home()/kernels` (outside any checkout; BUILDBPF_CACHE_DIR moves it)."""
    return _fs.usable_cache("kernels")


def apt_env(base: Path) -> dict[str, str]:
    """The environment for apt with its private configuration under `base`, created."""
    apt = base / "apt"
    for sub in ("lists/partial", "cache/archives/partial", "empty"):
        (apt / sub).mkdir(parents=True, exist_ok=True)
    (apt / "sources.list").write_text(catalog.sources_list())
    lines = [
        f'Dir::Etc::sourcelist "{apt}/sources.list";',
        f'Dir::Etc::sourceparts "{apt}/empty";',
        f'Dir::Etc::parts "{apt}/empty";',
        f'Dir::Etc::main "{apt}/empty/none";',
        f'Dir::Etc::preferencesparts "{apt}/empty";',
        f'Dir::State::Lists "{apt}/lists";',
        'Dir::State::status "/dev/null";',
        f'Dir::Cache "{apt}/cache";',
        'APT::Architecture "amd64";',
        'APT::Architectures { "amd64"; };',
        'Acquire::Languages "none";',
        'Acquire::GzipIndexes "true";',  # lists stay compressed (~20 MB, not ~70)
        'Dir::Cache::srcpkgcache "";',
        'Debug::NoLocking "true";',
        # mirrors that serve a snapshot of the archive keep an expired Release; still signed
        'Acquire::Check-Valid-Until "false";',
    ]
    if os.geteuid() == 0:
        lines.append('APT::Sandbox::User "root";')  # _apt cannot write into root's cache
    (apt / "apt.conf").write_text("\n".join(lines) + "\n")
    return {"APT_CONFIG": str(apt / "apt.conf"), "LC_ALL": "C"}


def _apt_run(base: Path, argv: list[str], cwd: Path | None = None) -> Completed:
    if shutil.which(argv[0]) is None:
        raise FetchError(
            f"{argv[0]} is not installed: kernels are Debian packages fetched with apt",
            fix="run on Debian or Ubuntu, or give an image of your own with --kernel-image PATH",
        )
    return run(argv, cwd=cwd, env_set=apt_env(base), echo=False, stream=False, check=False, timeout=600)


def _apt(base: Path, argv: list[str], cwd: Path | None = None) -> str:
    done = _apt_run(base, argv, cwd)
    if done.returncode != 0:
        said = catalog.apt_error(done.stdout + "\n" + done.stderr) or done.stderr.strip()[-300:]
        raise FetchError(f"`{' '.join(argv[:2])}` failed: {said}", fix="check the network and run again")
    return done.stdout


STAMP = "buildbpf-updated"  # in the lists directory: when buildbpf last fetched them whole


def lists_complete(lists: Path) -> bool:
    """Whether `lists` holds a non-empty Packages index of every suite of the sources list."""
    try:
        sizes = {p.name: p.stat().st_size for p in lists.glob("*_Packages*")}
    except OSError:
        return False
    return all(
        any(f"_dists_{suite}_" in name and size > 0 for name, size in sizes.items())
        for _, suite in catalog.SOURCES
    )


def update_lists(base: Path, *, force: bool = False) -> None:
    """`apt-get update` on the private lists, when they are missing, incomplete or a day old.

    apt-get update exits 0 when it reaches no server: only lists it fetched without an error
    are stamped fresh, and lists that lack a suite are a FetchError (never "no such kernel").
    """
    lists = base / "apt" / "lists"
    try:
        fresh = time.time() - (lists / STAMP).stat().st_mtime < LISTS_MAX_AGE
    except OSError:
        fresh = False
    if not force and fresh and lists_complete(lists):
        return
    print("buildbpf: fetching Debian's kernel package lists", file=sys.stderr, flush=True)
    done = _apt_run(base, ["apt-get", "update", "-q"])
    said = done.stdout + "\n" + done.stderr
    failure = catalog.update_failure(said)
    if done.returncode != 0 and failure is None:
        failure = catalog.apt_error(said) or f"apt-get update exited with {done.returncode}"
    if not lists_complete(lists):
        (lists / STAMP).unlink(missing_ok=True)
        raise FetchError(
            f"could not fetch Debian's package lists: {failure or 'apt-get update fetched no package index'}",
            fix="check the network (and any proxy apt needs) and run again; cached kernels answer offline",
        )
    if failure is not None:  # whole lists from an earlier run: usable, but not fresh
        print(f"buildbpf: could not refresh Debian's package lists ({failure}); using the previous ones",
              file=sys.stderr, flush=True)  # fmt: skip
        return
    (lists / STAMP).touch()  # not apt's files: apt may keep the server's dates on them


def available(base: Path) -> dict[str, str]:
    """Release -> image package, for every cloud-amd64 kernel in the lists."""
    return catalog.image_packages(_apt(base, ["apt-cache", "pkgnames", "linux-image-"]).splitlines())


def show(base: Path, package: str) -> catalog.Package:
    """The candidate version of `package` (what `apt-get download` would fetch)."""
    found = catalog.parse_stanzas(_apt(base, ["apt-cache", "show", "--no-all-versions", package]))
    if not found:
        raise FetchError(f"apt knows no package {package}")
    return found[0]


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for chunk in iter(lambda: stream.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def payload_kind(member: str) -> str | None:
    """`vmlinuz` or `config` for the members that hold them (`./boot/vmlinuz-R`, or
    `./usr/lib/modules/R/vmlinuz` in the split 7.x packages), else None."""
    parts = member.lstrip("./").split("/")
    if len(parts) == 2 and parts[0] == "boot":
        kind = parts[1].split("-", 1)[0]
        return kind if kind in ("vmlinuz", "config") and "-" in parts[1] else None
    if len(parts) == 5 and parts[:3] == ["usr", "lib", "modules"] and parts[4] in ("vmlinuz", "config"):
        return parts[4]
    return None


def extract(deb: Path, into: Path) -> list[str]:
    """vmlinuz and config out of `deb` into `into` (nothing else is unpacked); names written."""
    written = []
    with subprocess.Popen(["dpkg-deb", "--fsys-tarfile", str(deb)], stdout=subprocess.PIPE) as proc:
        assert proc.stdout is not None
        with tarfile.open(fileobj=proc.stdout, mode="r|*") as tar:
            for member in tar:
                kind = payload_kind(member.name)
                source = tar.extractfile(member) if kind and member.isfile() else None
                if kind and source is not None:
                    (into / kind).write_bytes(source.read())
                    written.append(kind)
        proc.stdout.read()
    return written


def check_config(config: Path) -> list[str]:
    """The options BPF checking needs that `config` lacks."""
    lines = set(config.read_text(errors="replace").splitlines())
    return [option for option in REQUIRED_CONFIG if option not in lines]


def load_cached(directory: Path) -> Kernel | None:
    """The kernel recorded in `directory/kernel.json`, if its files are all there and its
    vmlinuz still has the recorded sha256; a damaged entry is removed (and said), so that
    it is fetched again instead of hanging or failing every boot."""
    try:
        data = json.loads((directory / "kernel.json").read_text())
    except (OSError, ValueError):
        return None
    vmlinuz = directory / "vmlinuz"
    if not isinstance(data, dict) or not vmlinuz.is_file():
        return None
    recorded = data.get("sha256")
    try:
        actual = _sha256(vmlinuz)
    except OSError:
        actual = None
    if not recorded or actual != recorded:
        name = data.get("name", directory.name)
        print(f"buildbpf: the cached kernel {name} is damaged ({vmlinuz}: sha256 {str(actual)[:16]}..., "
              f"recorded {str(recorded)[:16]}...): removing it, to be fetched again",
              file=sys.stderr, flush=True)  # fmt: skip
        _drop(directory)
        return None
    config = directory / "config"
    return Kernel(data["name"], data["series"], vmlinuz, config if config.is_file() else None,
                  data.get("packages", []), recorded)  # fmt: skip


_RELEASE = re.compile(r"^\d+\.\d+[0-9A-Za-z.+~_-]*$")


def entry(base: Path, release: str) -> Path:
    """`base/images/RELEASE`, the cache entry of a kernel release. An entry is replaced and
    removed by this path, so a release that is not a kernel's name (`../..`, `/home/x`: a
    hand-edited lock file) is a config error, never a path outside the cache."""
    if not _RELEASE.match(release) or ".." in release:
        raise ConfigError(
            f"{release!r} is not a kernel release (such as 6.1.0-57)",
            fix="fix or regenerate buildbpf-kernels.lock (`buildbpf kernels --lock`)",
        )
    return base / "images" / release


def _drop(directory: Path) -> None:
    """Remove a damaged cache entry: renamed aside first, so no reader sees half of it."""
    aside = directory.with_name(f".drop-{directory.name}-{os.getpid()}")
    try:
        directory.rename(aside)
    except OSError:
        aside = directory
    shutil.rmtree(aside, ignore_errors=True)


def cached(base: Path | None = None) -> list[Kernel]:
    """Every kernel in the cache, oldest series first."""
    images = (base or root()) / "images"
    found = [k for d in sorted(images.iterdir()) if (k := load_cached(d))] if images.is_dir() else []
    return sorted(found, key=lambda k: catalog.version_key(k.name))


def download(base: Path, image: str, release: str, pinned: list[str] | None = None) -> Kernel:
    """Download `image` (or exactly the `pinned` NAME=VERSION packages) into the cache."""
    target = entry(base, release)
    (base / "download").mkdir(exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f"{release}-", dir=base / "download"))
    try:
        kernel = _unpack(base, image, release, work, pinned)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    work.chmod(0o755)  # mkdtemp's is 0700
    work.rename(target)  # whole or not at all: a killed download leaves no half kernel
    return kernel


def _unpack(base: Path, image: str, release: str, work: Path, pinned: list[str] | None) -> Kernel:
    target = base / "images" / release
    wanted = pinned or catalog.payload_packages(show(base, image))
    stanzas = [show(base, p) for p in wanted]
    print(f"buildbpf: downloading Linux {release} ({sum(p.size for p in stanzas) >> 20} MiB)",
          file=sys.stderr, flush=True)  # fmt: skip
    _apt(base, ["apt-get", "download", "-q", *(f"{p.name}={p.version}" for p in stanzas)], cwd=work)
    records = []
    for stanza in stanzas:
        debs = list(work.glob(f"{stanza.name}_*.deb"))
        if not debs or _sha256(debs[0]) != stanza.sha256:
            raise FetchError(f"{stanza.name}: the download does not match the sha256 apt lists")
        extract(debs[0], work)
        records.append({"name": stanza.name, "version": stanza.version, "sha256": stanza.sha256})
    if not (work / "vmlinuz").is_file() or not (work / "config").is_file():
        raise FetchError(f"no vmlinuz or config in {', '.join(p.name for p in stanzas)}")
    if missing := check_config(work / "config"):
        raise FetchError(f"Linux {release} lacks {', '.join(missing)}: it cannot check BPF programs")
    for deb in work.glob("*.deb"):
        deb.unlink()
    kernel = Kernel(release, catalog.series_of(release), target / "vmlinuz", target / "config", records,
                    _sha256(work / "vmlinuz"))  # fmt: skip
    meta = {**asdict(kernel), "vmlinuz": "vmlinuz", "config": "config", "fetched": int(time.time())}
    (work / "kernel.json").write_text(json.dumps(meta, indent=2) + "\n")
    return kernel


@contextmanager
def _locked(base: Path) -> Iterator[None]:
    """One buildbpf at a time in the apt lists and downloads of this cache."""
    import fcntl

    with (base / "lock").open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield


def resolve(request: str, base: Path | None = None, *, use_lock: bool = True) -> Kernel:
    """The kernel for one request (`6.1`, `latest`, `path:FILE`), downloaded if needed; the
    one `buildbpf-kernels.lock` pins, when there is one and `use_lock`."""
    if request.startswith("path:"):
        return own_image(Path(request[5:]))
    base = base or root()
    with _locked(base):
        from buildbpf.kernels import lock

        if use_lock and (locked := lock.locked(request)) is not None:
            return lock.fetch_locked(base, request, locked)
        return _resolve(request, base)


def _resolve(request: str, base: Path) -> Kernel:
    try:
        update_lists(base)
        packages = available(base)
        if not packages:  # lists that parse but name no kernel are not Debian's
            raise FetchError("could not fetch Debian's package lists: they name no cloud-amd64 kernel",
                             fix="run again; `buildbpf kernels` shows what is cached")  # fmt: skip
    except FetchError as error:
        offline = [k for k in cached(base) if request in (k.series, catalog.LATEST)]
        if offline:  # no network: the newest cached kernel of the series still answers
            print(f"buildbpf: {error.message}; {request}: using the cached Linux {offline[-1].name}",
                  file=sys.stderr, flush=True)  # fmt: skip
            return offline[-1]
        raise
    image = catalog.choose(request, packages)
    if image is None:
        series = sorted({catalog.series_of(r) for r in packages}, key=catalog.version_key)
        raise ConfigError(f"Debian has no cloud-amd64 kernel {request}",
                          fix=f"available: {', '.join(series)}, latest")  # fmt: skip
    release = next(r for r, p in packages.items() if p == image)
    return load_cached(entry(base, release)) or download(base, image, release)


def own_image(image: Path) -> Kernel:
    """A bzImage the user built (`--kernel-image PATH`); its config checked when there is one."""
    if not image.is_file():
        raise ConfigError(f"kernel image {image} does not exist", fix="give the path of a bzImage")
    # beside it, or at the top of the tree it was built in (arch/x86/boot/bzImage)
    places = [image.with_name("config"), *(d / ".config" for d in image.parents[:4])]
    config = next((c for c in places if c.is_file()), None)
    if config is not None and (missing := check_config(config)):
        raise ConfigError(f"{image}: its config lacks {', '.join(missing)}",
                          fix="build it with CONFIG_BPF_SYSCALL=y and CONFIG_DEBUG_INFO_BTF=y")  # fmt: skip
    return Kernel(image.name, "custom", image, config, [], _sha256(image))
