"""Reading and writing files: only regular files are read, never without a size cap; writes
are atomic, go through symbolic links, and fail with a message that names the path.

A FIFO, a device or a directory where a config file or an object belongs would block or
read until memory runs out (`buildbpf check /dev/zero`), and a rename over a symlinked
config would silently turn it into a copy (issue #11). Every read of a file a user or a
build controls goes through `read_regular`; every write through `write_atomic`.
"""

from __future__ import annotations

import atexit
import logging
import os
import shutil
import stat
import tempfile
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from buildbpf import xdg
from buildbpf.errors import BuildbpfError, ConfigError, FileSystemError

log = logging.getLogger("buildbpf")

MIB = 1 << 20
CONFIG_LIMIT = 4 * MIB  # buildbpf.toml, Cargo.toml, .cargo/config.toml, rust-toolchain.toml
OBJECT_LIMIT = 64 * MIB  # an eBPF object: real ones are kilobytes, the largest a few MiB
BOM = "\ufeff"  # cargo and rustup accept a UTF-8 byte order mark at the start of TOML

_KINDS = {
    stat.S_IFDIR: "a directory",
    stat.S_IFIFO: "a FIFO (named pipe)",
    stat.S_IFCHR: "a character device",
    stat.S_IFBLK: "a block device",
    stat.S_IFSOCK: "a socket",
}


def _not_regular(path: Path, mode: int, what: str) -> ConfigError:
    kind = _KINDS.get(stat.S_IFMT(mode), "not a regular file")
    return ConfigError(
        f"{what} {path} is {kind}, not a regular file; buildbpf reads only regular files",
        fix=f"replace {path} with a regular file (or remove it)",
    )


_PIECE = 1 << 20


def read_regular(path: Path, *, limit: int, what: str = "file") -> bytes:
    """The bytes of `path`: a regular file (or a link to one) of at most `limit` bytes.

    Anything else (FIFO, device, directory, dangling link, a larger file) is a ConfigError
    naming the path; a failing read is a FileSystemError. A FIFO never blocks: it is refused
    by its type before it is opened, and opened non-blocking in case it was swapped in.
    """
    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        if path.is_symlink():
            raise ConfigError(
                f"{what} {path} is a symbolic link to {path.readlink()}, which does not exist",
                fix=f"point {path} at an existing file, or remove it",
            ) from None
        raise FileSystemError.from_os(exc, "read", path) from None
    except OSError as exc:
        raise FileSystemError.from_os(exc, "read", path) from None
    if not stat.S_ISREG(mode):
        raise _not_regular(path, mode, what)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
        with os.fdopen(fd, "rb") as stream:
            if not stat.S_ISREG(mode := os.fstat(stream.fileno()).st_mode):
                raise _not_regular(path, mode, what)
            # st_size is 0 for /proc files: read, do not trust it; in pieces, since read(n)
            # allocates n bytes up front (64 MiB for every object `check` reads)
            pieces, size = [], 0
            while size <= limit and (piece := stream.read(min(_PIECE, limit + 1 - size))):
                pieces.append(piece)
                size += len(piece)
            data = b"".join(pieces)
    except OSError as exc:
        raise FileSystemError.from_os(exc, "read", path) from None
    if len(data) > limit:
        raise ConfigError(
            f"{what} {path} is larger than {limit // MIB} MiB, the most buildbpf reads of one",
            fix=f"check that {path} is the file you meant",
        )
    return data


def read_text(path: Path, *, limit: int = CONFIG_LIMIT, what: str = "file") -> str:
    """`read_regular` decoded as UTF-8, line endings untouched (a CRLF file stays CRLF)."""
    data = read_regular(path, limit=limit, what=what)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{what} {path} is not UTF-8 text (byte {exc.start} is {data[exc.start]:#04x})",
            fix=f"save {path} as UTF-8",
        ) from None


def parse_toml(text: str, path: Path, *, fix: str | None = None) -> dict[str, Any]:
    """Parse TOML text as cargo does (a leading BOM is fine); ConfigError on any problem."""
    try:
        return tomllib.loads(text.removeprefix(BOM))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}", fix=fix or f"fix the syntax in {path}") from None
    except RecursionError:
        raise ConfigError(
            f"{path}: arrays or tables nested too deeply to read", fix=fix or f"flatten the values in {path}"
        ) from None


def load_toml(path: Path, *, what: str, fix: str | None = None) -> tuple[dict[str, Any], str]:
    """Read and parse a TOML file (capped, regular files only); its data and its text sans BOM."""
    text = read_text(path, limit=CONFIG_LIMIT, what=what).removeprefix(BOM)
    return parse_toml(text, path, fix=fix), text


def exists(path: Path) -> bool:
    """Whether anything is at `path`, a dangling symbolic link included (`read_regular` says
    what is wrong with it); False where a directory on the way cannot be searched."""
    try:
        os.lstat(path)
    except (OSError, ValueError):
        return False
    return True


def is_file(path: Path) -> bool:
    """Whether `path` is a regular file; False (never an error) when it cannot be looked at,
    as for a PATH entry inside a directory this user cannot read (`sudo -u`)."""
    try:
        return stat.S_ISREG(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def is_dir(path: Path) -> bool:
    """Whether `path` is a directory; False when it cannot be looked at."""
    try:
        return stat.S_ISDIR(path.stat().st_mode)
    except (OSError, ValueError):
        return False


def is_executable(path: Path) -> bool:
    """A regular file this user may run; False when it cannot be looked at."""
    return is_file(path) and os.access(path, os.X_OK)


def _is_link(path: Path) -> bool:
    try:
        return stat.S_ISLNK(os.lstat(path).st_mode)
    except (OSError, ValueError):
        return False


def write_atomic(path: Path, content: str | bytes) -> None:
    """Write via a temp file in the same directory and a rename: never a half-written file.

    A symbolic link is written through: the temp file goes next to the link's target and
    replaces the target, so the link stays a link (and says so). Any failure is a
    FileSystemError naming the path and what could not be done; no temp file is left.
    """
    target = path
    if _is_link(path):
        target = Path(os.path.realpath(path))
        log.info("%s is a symbolic link: writing through to %s", path, target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FileSystemError.from_os(exc, "create the directory", exc.filename or target.parent) from None
    try:
        mode = stat.S_IMODE(target.stat().st_mode)
    except OSError:
        mode = 0o644
    data = content.encode() if isinstance(content, str) else content
    operation, subject = "create a temporary file in", target.parent
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise FileSystemError.from_os(exc, operation, subject) from None
    try:
        operation, subject = "write", target  # the temp file is gone when the error is read
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        operation = "set the mode of a new"
        Path(tmp).chmod(mode)
        operation = "rename a temporary file over"
        Path(tmp).replace(target)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise FileSystemError.from_os(exc, operation, subject) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_optional(path: Path, content: str | bytes, what: str) -> bool:
    """`write_atomic` for a cache or record that only saves time: a failure is a debug line."""
    try:
        write_atomic(path, content)
    except BuildbpfError as error:
        log.debug("%s not saved (it only saves time): %s", what, error)
        return False
    return True


# --- stable places outside any checkout -----------------------------------------------

_scratch: list[Path] = []  # the fallback cache of this process, removed when it exits


def data_home() -> Path:
    """Where installed tools live (`BUILDBPF_HOME`, else `$XDG_DATA_HOME/buildbpf`)."""
    return Path(xdg.data_dir())


def cache_home() -> Path:
    """Where rebuildable caches live (`BUILDBPF_CACHE_DIR`, else `$XDG_CACHE_HOME/buildbpf`)."""
    return Path(xdg.cache_dir())


def usable_cache(*parts: str) -> Path:
    """`cache_home()/parts`, created; a private temporary directory (removed at exit) when the
    cache cannot be written (read-only HOME, unwritable XDG_CACHE_HOME): a cache only saves
    time, so its absence is a debug line, never a failure."""
    directory, reason = _writable_cache(parts)
    return directory if reason is None else scratch_cache(*parts, reason=f"{directory}: {reason}")


def built_cache(*parts: str, ready: Callable[[Path], bool], what: str) -> Path:
    """`cache_home()/parts` as it is when `ready` says it holds what it caches, written or not
    (a read-only cache shared from an image); else `usable_cache`, and a scratch directory,
    where `what` is built again for this run only, is said in one line."""
    directory = cache_home().joinpath(*parts)
    if ready(directory):
        return directory
    found, reason = _writable_cache(parts)
    if reason is None:
        return found
    log.warning("the cache %s cannot be written (%s): %s is built in a temporary directory, "
                "for this run only", found, reason, what)  # fmt: skip
    return scratch_cache(*parts, reason=f"{found}: {reason}")


def _writable_cache(parts: tuple[str, ...]) -> tuple[Path, str | None]:
    """`cache_home()/parts`, created, and why it cannot be written (None: it can)."""
    directory = cache_home().joinpath(*parts)
    try:
        directory.mkdir(parents=True, exist_ok=True)
        if os.access(directory, os.W_OK):
            return directory, None
        return directory, "not writable"
    except OSError as exc:
        return directory, exc.strerror or str(exc)


def scratch_cache(*parts: str, reason: str) -> Path:
    """The fallback of `usable_cache`: a directory under this process's private temporary one."""
    if not _scratch:
        _scratch.append(Path(tempfile.mkdtemp(prefix="buildbpf-cache-")))
        atexit.register(shutil.rmtree, _scratch[0], ignore_errors=True)
    log.debug("cache not usable (%s); using %s for this run", reason, _scratch[0])
    directory = _scratch[0].joinpath(*parts)
    directory.mkdir(parents=True, exist_ok=True)
    return directory


def managed_linker_root(llvm_major: int) -> Path:
    """The `cargo install --root` that `buildbpf setup` uses for a bpf-linker on LLVM N."""
    return data_home() / "bpf-linker" / f"llvm-{llvm_major}"


def managed_linker(llvm_major: int) -> Path:
    """The bpf-linker binary `buildbpf setup` installs for LLVM `llvm_major`."""
    return managed_linker_root(llvm_major) / "bin" / "bpf-linker"


def rustup_home() -> Path:
    """rustup's home, as rustup itself finds it."""
    if explicit := os.environ.get("RUSTUP_HOME"):
        return Path(explicit)
    return Path.home() / ".rustup"


def cargo_home() -> Path:
    """cargo's home, as cargo itself finds it."""
    if explicit := os.environ.get("CARGO_HOME"):
        return Path(explicit)
    return Path.home() / ".cargo"
