"""Which Debian package gives which kernel: the one table, and the reading of apt's output.

Kernels are Debian's cloud-amd64 flavour (small, everything BPF needs built in: every one
has CONFIG_BPF_SYSCALL=y and CONFIG_DEBUG_INFO_BTF=y, which `fetch` checks). A user names
a kernel series ("5.10", "6.1"), an alias ("lts", "latest"), or `path:...` for an image of
their own (`--kernel-image`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from buildbpf.errors import ConfigError

MIRROR = "http://deb.debian.org/debian"
SECURITY = "http://deb.debian.org/debian-security"
FLAVOUR = "cloud-amd64"

# series -> (suite it comes from, why it is in the table); a series not listed here is
# still found when a suite carries it (trixie-backports moves on every few months)
KERNELS: dict[str, tuple[str, str]] = {
    "5.10": ("bullseye-security", "Debian 11, LTS; the oldest kernel most deployments still run"),
    "6.1": ("bookworm-security", "Debian 12, LTS"),
    "6.12": ("trixie-security", "Debian 13, LTS"),
    "6.16": ("trixie-backports", ""),
    "6.17": ("trixie-backports", ""),
    "6.18": ("trixie-backports", "LTS"),
    "6.19": ("trixie-backports", ""),
    "7.0": ("trixie-backports", ""),
    "7.1": ("trixie-backports", ""),
    "7.2": ("sid", ""),
    "7.3": ("trixie-backports", ""),
}
ALIASES: dict[str, tuple[str, ...]] = {
    "lts": ("5.10", "6.1", "6.12", "6.18"),
    "debian": ("5.10", "6.1", "6.12"),
}
LATEST = "latest"  # the newest cloud-amd64 image of every suite below
SOURCES = (
    (SECURITY, "bullseye-security"),
    (SECURITY, "bookworm-security"),
    (SECURITY, "trixie-security"),
    (MIRROR, "trixie-backports"),
    (MIRROR, "sid"),
)
_SERIES = re.compile(r"^\d+\.\d+$")
_IMAGE = re.compile(r"^linux-image-(?P<release>(?P<series>\d+\.\d+)[.\d]*[-+][0-9a-z+.-]*?)-cloud-amd64$")


def sources_list() -> str:
    """The private sources.list: only the suites the table names, main only."""
    return "".join(f"deb {uri} {suite} main\n" for uri, suite in SOURCES)


def expand(spec: str | list[str]) -> list[str]:
    """`5.10,6.1,lts,latest` -> the requests in order, without duplicates.

    Each request is a series (`6.1`), `latest`, or `path:FILE` (an image given by path).
    """
    items = spec.split(",") if isinstance(spec, str) else [p for s in spec for p in s.split(",")]
    wanted: list[str] = []
    for raw in items:
        item = raw.strip().lower()
        if not item:
            continue
        if item in ALIASES:
            found = list(ALIASES[item])
        elif item == LATEST or _SERIES.match(item) or item.startswith("path:"):
            found = [raw.strip() if item.startswith("path:") else item]
        else:
            known = ", ".join([*KERNELS, *ALIASES, LATEST])
            raise ConfigError(
                f"unknown kernel {raw.strip()!r}", fix=f"name a series like 6.1, or one of: {known}"
            )
        wanted += [f for f in found if f not in wanted]
    if not wanted:
        raise ConfigError("--kernel names no kernel", fix="e.g. --kernel 5.10,6.1,latest")
    return wanted


def version_key(text: str) -> tuple[tuple[int, int | str], ...]:
    """A natural sort key: numbers compare as numbers (`6.12.118+deb13` > `6.12.9+deb13`)."""
    return tuple((0, int(p)) if p.isdigit() else (1, p) for p in re.findall(r"\d+|[a-z]+", text))


def image_packages(names: list[str]) -> dict[str, str]:
    """Kernel release -> image package, from `apt-cache pkgnames linux-image-` output lines.

    Only the cloud-amd64 flavour, neither debug symbols nor unsigned duplicates.
    """
    found: dict[str, str] = {}
    for name in names:
        match = _IMAGE.match(name.strip())
        if match:
            found[match["release"]] = match.group(0)
    return found


def series_of(release: str) -> str:
    """`6.12.118+deb13` -> `6.12`; `5.10.0-46` -> `5.10`."""
    match = re.match(r"^(\d+\.\d+)", release)
    return match.group(1) if match else release


def choose(request: str, packages: dict[str, str]) -> str | None:
    """The image package that answers `request` (a series or `latest`): the newest release."""
    releases = [r for r in packages if request == LATEST or series_of(r) == request]
    if not releases:
        return None
    return packages[max(releases, key=version_key)]


@dataclass(frozen=True)
class Package:
    """One stanza of `apt-cache show`: what apt would download."""

    name: str
    version: str
    depends: tuple[str, ...]
    filename: str
    size: int
    sha256: str


def parse_stanzas(text: str) -> list[Package]:
    """The stanzas of `apt-cache show` (RFC 822 fields, continuation lines start with a space)."""
    packages = []
    for block in re.split(r"\n\s*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in block.splitlines():
            if line[:1] in (" ", "\t") and key is not None:
                fields[key] += "\n" + line.strip()
            elif ":" in line:
                key, _, value = line.partition(":")
                fields[key] = value.strip()
        if "Package" not in fields or "Version" not in fields:
            continue
        depends = tuple(d.strip().split(" ", 1)[0] for d in fields.get("Depends", "").split(",") if d.strip())
        packages.append(
            Package(fields["Package"], fields["Version"], depends, fields.get("Filename", ""),
                    int(fields.get("Size", "0") or 0), fields.get("SHA256", ""))
        )  # fmt: skip
    return packages


def payload_packages(image: Package) -> list[str]:
    """The packages holding vmlinuz and config: the image itself, or (7.x and some 6.x)
    the `linux-binary-*` (vmlinuz) and `linux-base-*` (config) it depends on."""
    split = [d for d in image.depends if d.startswith(("linux-binary-", "linux-base-"))]
    return split if any(d.startswith("linux-binary-") for d in split) else [image.name]


def downloaded_files(output: str) -> list[str]:
    """Package names from `apt-get download`'s `Get:N URI SUITE/main amd64 NAME amd64 VERSION [SIZE]`."""
    found = []
    for line in output.splitlines():
        match = re.match(r"^Get:\d+\s+\S+\s+\S+\s+\S+\s+(\S+)\s+\S+\s+\S+", line)
        if match:
            found.append(match.group(1))
    return found


def apt_error(output: str) -> str | None:
    """apt's first `E:` line, or None."""
    for line in output.splitlines():
        if line.startswith("E: "):
            return line[3:].strip()
    return None


def update_failure(output: str) -> str | None:
    """What went wrong in an `apt-get update` that may still exit 0: its first `W: Failed to
    fetch URI  REASON` (or `E:`) line, shortened; None when every index was fetched."""
    for line in output.splitlines():
        if line.startswith("W: Failed to fetch "):
            uri, _, reason = line[len("W: Failed to fetch ") :].partition("  ")
            return f"{uri}: {reason.strip()}"[:300] if reason.strip() else uri[:300]
        if line.startswith(("E: ", "W: Some index files failed to download")):
            return line[3:].strip()[:300]
    return None
