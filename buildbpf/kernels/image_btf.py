"""A kernel's BTF read out of its image, so layouts compare without booting it.

A bzImage holds the compressed vmlinux ELF; its setup header says where (the kernel's
`Documentation/arch/x86/boot.rst`: `payload_offset`, `payload_length`), and the vmlinux's
`.BTF` section is what `/sys/kernel/btf/vmlinux` serves on that kernel. Debian compresses with
LZ4 (5.10, 6.1) and zstd (6.12 on). The BTF is kept next to the cached image, keyed by the
image's sha256, so it is read out once.
"""

from __future__ import annotations

import bz2
import hashlib
import io
import lzma
import struct
import zlib
from pathlib import Path

from buildbpf import _fs

_LZ4_LEGACY = b"\x02\x21\x4c\x18"
_LZ4_LEGACY_BLOCK = 8 << 20  # the kernel's legacy LZ4 frames: blocks of at most 8 MiB out
_ZSTD = b"\x28\xb5\x2f\xfd"
_VMLINUX_LIMIT = 1 << 30


class ImageError(ValueError):
    """The image holds no vmlinux this reader can find or decompress, or no .BTF."""


def payload(image: bytes) -> bytes:
    """The compressed vmlinux of a bzImage (its setup header says where); the image itself
    when it is not a bzImage (a vmlinux ELF, or a bare compressed stream)."""
    if len(image) < 0x250 or image[0x202:0x206] != b"HdrS":
        return image
    setup_sects = image[0x1F1] or 4
    offset, length = struct.unpack_from("<II", image, 0x248)
    start = (setup_sects + 1) * 512 + offset
    if length == 0 or start + length > len(image):
        raise ImageError("the bzImage's payload offsets point outside the file")
    return image[start : start + length]


def _lz4_legacy(data: bytes) -> bytes:
    import lz4.block  # type: ignore[import-untyped]

    out = bytearray()
    position = 0
    while position + 4 <= len(data):
        if data[position : position + 4] == _LZ4_LEGACY:  # a new frame (concatenated streams)
            position += 4
            continue
        (size,) = struct.unpack_from("<I", data, position)
        if size == 0 or position + 4 + size > len(data):
            break  # the uncompressed size the kernel appends, or the end
        block = data[position + 4 : position + 4 + size]
        out += lz4.block.decompress(block, uncompressed_size=_LZ4_LEGACY_BLOCK)
        position += 4 + size
        if len(out) > _VMLINUX_LIMIT:
            raise ImageError("the decompressed kernel is larger than 1 GiB")
    return bytes(out)


def decompress(data: bytes) -> bytes:
    """The vmlinux in `data`, whichever of the kernel's compressions it uses."""
    try:
        if data[:4] == b"\x7fELF":
            return data
        if data[:2] == b"\x1f\x8b":
            return zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data, _VMLINUX_LIMIT)
        if data[:6] == b"\xfd7zXZ\x00":
            return lzma.LZMADecompressor(lzma.FORMAT_XZ).decompress(data, _VMLINUX_LIMIT)
        if data[:3] == b"\x5d\x00\x00":
            return lzma.LZMADecompressor(lzma.FORMAT_ALONE).decompress(data, _VMLINUX_LIMIT)
        if data[:3] == b"BZh":
            return bz2.BZ2Decompressor().decompress(data, _VMLINUX_LIMIT)
        if data[:4] == _LZ4_LEGACY:
            return _lz4_legacy(data)
        if data[:4] == _ZSTD:
            import zstandard

            return zstandard.ZstdDecompressor().decompressobj().decompress(data)
    except (zlib.error, lzma.LZMAError, OSError, EOFError, RuntimeError) as exc:
        raise ImageError(f"cannot decompress the kernel: {exc}") from None
    except Exception as exc:  # lz4 and zstandard raise their own error types
        raise ImageError(f"cannot decompress the kernel: {exc}") from None
    raise ImageError(f"unknown compression (the payload starts {data[:6].hex()})")


def btf_section(vmlinux: bytes) -> bytes:
    """The `.BTF` section of a vmlinux ELF."""
    from elftools.common.exceptions import ELFError
    from elftools.elf.elffile import ELFFile

    try:
        section = ELFFile(io.BytesIO(vmlinux)).get_section_by_name(".BTF")
    except (ELFError, struct.error, ValueError) as exc:
        raise ImageError(f"the decompressed kernel is not an ELF file: {exc}") from None
    if section is None:
        raise ImageError("the kernel has no .BTF section (built without CONFIG_DEBUG_INFO_BTF)")
    data: bytes = section.data()
    return data


def btf_of(image_path: Path, sha256: str = "") -> bytes:
    """The BTF of a kernel image at `image_path` (bzImage, vmlinux or raw BTF); kept beside it
    (`btf-<sha256>`) and read from there next time, when the image's sha256 is known."""
    kept = image_path.parent / f"btf-{sha256[:16]}" if sha256 else None
    if kept is not None and _fs.is_file(kept):
        data = kept.read_bytes()
        if data[:2] == b"\x9f\xeb":
            return data
    image = image_path.read_bytes()
    if image[:2] == b"\x9f\xeb":  # a raw BTF file (`/sys/kernel/btf/vmlinux` saved, pahole's output)
        return image
    if not sha256:
        kept = None
    elif hashlib.sha256(image).hexdigest() != sha256:
        kept = None  # not the image that was recorded: read it, keep nothing
    found = btf_section(decompress(payload(image)))
    if kept is not None:
        _fs.write_optional(kept, found, f"the BTF of {image_path}")
    return found
