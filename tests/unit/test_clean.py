"""`buildbpf clean` selects buildbpf's own output for one workspace, and nothing else."""

from __future__ import annotations

import marshal
from pathlib import Path

from buildbpf.build import clean


def record(cache: Path, name: str, cwd: str | None) -> Path:
    path = cache / "replay" / f"{name}.cpython-311.marshal"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps({"cwd": cwd, "argv": ["build"]}) if cwd is not None else b"\x00garbage")
    return path


def test_selects_published_objects_and_this_workspaces_replay_records(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    target = ws / "target"
    (target / "buildbpf" / "bpfel-unknown-none").mkdir(parents=True)
    (target / "buildbpf" / "bpfel-unknown-none" / "probe").write_bytes(b"\x7fELF")
    (target / "release").mkdir()  # cargo's: only `--all` (cargo clean) touches it
    cache = tmp_path / "cache"
    at_root = record(cache, "a", str(ws))
    in_crate = record(cache, "b", str(ws / "probe-ebpf"))
    other = record(cache, "c", str(tmp_path / "ws2"))  # a sibling whose name starts alike
    record(cache, "d", None)  # unreadable: not known to be ours
    (cache / "probes").mkdir()  # shared caches stay
    selection = clean.select([target, target], [ws], cache)
    assert selection.paths == (target / "buildbpf", at_root, in_crate)
    selection.remove()
    assert not (target / "buildbpf").exists() and not at_root.exists() and not in_crate.exists()
    assert (target / "release").is_dir() and other.exists() and (cache / "probes").is_dir()
    selection.remove()  # a second clean: already gone is fine
    assert clean.select([target], [ws], cache).paths == ()


def test_outside_workspaces_and_their_target_dirs(tmp_path: Path) -> None:
    outside = tmp_path / "ebpf"
    (outside / "target" / "buildbpf").mkdir(parents=True)
    (tmp_path / "ws" / "target").mkdir(parents=True)
    selection = clean.select([tmp_path / "ws" / "target", outside / "target"], [tmp_path / "ws", outside],
                             tmp_path / "no-cache")  # fmt: skip
    assert selection.paths == (outside / "target" / "buildbpf",)


def test_all_adds_cargo_clean_per_workspace(tmp_path: Path) -> None:
    calls = clean.cargo_clean_calls(Path("/usr/bin/cargo"), {"RUSTC": "/usr/bin/rustc"},
                                    [Path("/ws"), Path("/ebpf")], Path("/out"))  # fmt: skip
    assert [(c.argv, c.cwd) for c in calls] == [
        (("/usr/bin/cargo", "clean", "--target-dir", "/out"), Path("/ws")),
        (("/usr/bin/cargo", "clean"), Path("/ebpf")),  # an outside crate keeps its own target dir
    ]
    assert calls[0].env_set == {"RUSTC": "/usr/bin/rustc"}
