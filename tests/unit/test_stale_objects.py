"""Objects of bins that no longer exist (issue #20, item 3): removed when buildbpf's record
proves it published them, refused when a binary embeds one, explained when userspace names one."""

from __future__ import annotations

import hashlib
import json
import struct
from pathlib import Path

import pytest

from buildbpf.build.advice import cargo_failure
from buildbpf.build.aya_build import check_embedded
from buildbpf.build.layout import BUILT_RECORD, Published, once, read_built, record_built, remove_stale
from buildbpf.errors import ArtifactError
from buildbpf.objects.gate import EM_BPF

WORKSPACE = Path("/w/ws")


def bpf_object(marker: int) -> bytes:
    """An eBPF ELF header, then two section headers (as `embedded_objects` cuts objects)."""
    ident = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9
    header = ident + struct.pack("<HHIQQQIHHHHHH", 1, EM_BPF, 1, 0, 0, 64, 0, 64, 0, 0, 64, 2, 0)
    return header + bytes([marker]) * 128


def published(path: Path, data: bytes, crate: str = "ren-ebpf") -> Published:
    digest = hashlib.sha256(data).hexdigest()
    return Published(crate, "bpfel", path.name, path, digest, len(data), (), None, True)


@pytest.fixture
def objects(tmp_path: Path) -> Path:
    directory = tmp_path / "target" / "buildbpf" / "bpfel-unknown-none"
    directory.mkdir(parents=True)
    return directory


def test_only_objects_this_workspace_published_for_a_gone_bin_are_removed(objects: Path) -> None:
    ours = {"ren": 1, "kept": 2, "changed": 3}
    for name, marker in ours.items():
        (objects / name).write_bytes(bpf_object(marker))
    record_built([published(objects / n, bpf_object(m)) for n, m in ours.items()], WORKSPACE)
    (objects / "changed").write_bytes(b"someone else's bytes")  # not what buildbpf wrote any more
    other = objects / "other"
    other.write_bytes(bpf_object(4))
    record_built([published(other, bpf_object(4), "other-ebpf")], Path("/w/another"))  # a shared target dir
    unrecorded = objects / "vendored"
    unrecorded.write_bytes(bpf_object(5))

    removed = remove_stale([objects], WORKSPACE, {"kept", "ren2"})

    assert removed == [objects / "ren"]
    assert not (objects / "ren").exists()
    assert {p.name for p in objects.iterdir()} == {"kept", "changed", "other", "vendored", BUILT_RECORD}
    assert "ren" not in read_built(objects)  # forgotten with its object
    assert set(read_built(objects)) == {"kept", "changed", "other"}


def test_records_without_a_workspace_or_with_odd_names_remove_nothing(objects: Path, tmp_path: Path) -> None:
    outside = tmp_path / "precious"
    outside.write_bytes(bpf_object(1))
    digest = hashlib.sha256(bpf_object(1)).hexdigest()
    (objects / "old").write_bytes(bpf_object(1))
    (objects / "link").symlink_to(outside)
    entry = {"sha256": digest, "btf": True, "crate": "x", "workspace": str(WORKSPACE)}
    record = {
        "old": {"sha256": digest, "btf": True},  # written before records named their workspace
        "../../precious": entry,  # a record edited by hand
        "link": entry,
        BUILT_RECORD: entry,
        "": entry,
        "a\0b": entry,
    }
    (objects / BUILT_RECORD).write_text(json.dumps(record))
    assert remove_stale([objects], WORKSPACE, set()) == []
    assert outside.read_bytes() == bpf_object(1)
    assert (objects / "old").is_file() and (objects / "link").is_file()


def test_a_gone_object_is_forgotten_and_a_missing_dir_is_fine(objects: Path, tmp_path: Path) -> None:
    record_built([published(objects / "ren", bpf_object(1))], WORKSPACE)
    assert remove_stale([objects, tmp_path / "nowhere"], WORKSPACE, set()) == []
    assert read_built(objects) == {}


def binary_embedding(path: Path, *objects: bytes) -> Path:
    host = b"\x7fELF" + bytes([2, 1, 1]) + b"\0" * 9 + struct.pack("<HH", 2, 62) + b"\0" * 44
    path.write_bytes(host + b"".join(b"\0" * 16 + o for o in objects) + b"\0" * 16)
    return path


def test_a_binary_embedding_an_object_left_for_a_gone_bin_is_refused(tmp_path: Path) -> None:
    out_dir = tmp_path / "out"  # aya-build's OUT_DIR keeps what it copied there before
    out_dir.mkdir()
    (out_dir / "ren").write_bytes(bpf_object(1))  # the old bin's object
    (out_dir / "ren2").write_bytes(bpf_object(2))  # this build's
    (out_dir / "notes.txt").write_text("not an object")
    exe = binary_embedding(tmp_path / "loader", bpf_object(1))
    verified = [published(out_dir / "ren2", bpf_object(2))]
    with pytest.raises(ArtifactError) as caught:
        check_embedded([exe], verified, [out_dir], {"ren2"})
    assert f"embeds {out_dir / 'ren'}, an object an earlier build left there" in caught.value.message
    assert "no eBPF bin is named `ren` now" in caught.value.message
    assert "(ren2)" in caught.value.fix
    assert not exe.exists()  # never left to run an old program

    fine = binary_embedding(tmp_path / "loader", bpf_object(2))
    check_embedded([fine], verified, [out_dir], {"ren2"})
    assert fine.exists()


def test_userspace_naming_a_gone_object_gets_advice_naming_it() -> None:
    output = (
        "error: couldn't read `/t/target/buildbpf/bpfel-unknown-none/ren`: No such file or directory "
        "(os error 2)\n --> ren-user/src/main.rs:1:24\n"
    )
    error = cargo_failure("userspace crates ren-user", 101, output, frozenset({"ren2"}))
    assert "userspace embeds `ren` from BUILDBPF_OBJECTS" in error.fix
    assert "no eBPF bin of this workspace is named `ren` (its eBPF bins now: ren2)" in error.fix
    assert "renamed or removed" in error.fix
    assert "embeds `ren`" in cargo_failure("userspace", 101, output).fix  # the replay knows no bins
    # a bin of the workspace not published yet is another story: no advice about renaming
    assert "renamed" not in cargo_failure("userspace", 101, output, frozenset({"ren"})).fix


def test_an_aya_build_object_and_its_published_copy_are_reported_once(tmp_path: Path) -> None:
    out_dir = tmp_path / "out" / "x"
    in_out_dir = Published("x", "bpfel", "x", out_dir, "a" * 64, 1, (), None, True, aya_build=True)
    copy = Published("x-ebpf", "bpfel", "x", tmp_path / "buildbpf" / "x", "a" * 64, 1, (), None, True,
                     source=out_dir, aya_build=True)  # fmt: skip
    assert once([in_out_dir, copy]) == [copy]
    alone = Published("x", "bpfel", "y", tmp_path / "out" / "y", "b" * 64, 1, (), None, True, aya_build=True)
    assert once([alone]) == [alone]  # not published elsewhere: reported from OUT_DIR
