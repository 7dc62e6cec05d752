"""`buildbpf clean` selects buildbpf's own output for one workspace, and nothing else.

Nothing that buildbpf (or, for `--all`, cargo) did not make may ever disappear: the property
test at the end builds random trees of user files in and around target dirs and runs every
variant of `clean` over them, with `cargo clean` played as what it is (it deletes the target
dir whole).
"""

from __future__ import annotations

import marshal
import os
import shutil
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildbpf.build import clean, output
from buildbpf.errors import ConfigError

# an ELF header of a relocatable little-endian BPF object: what buildbpf publishes
BPF_OBJECT = (b"\x7fELF\x02\x01\x01" + bytes(9) + (1).to_bytes(2, "little") + (247).to_bytes(2, "little")
              + bytes(44))


def record(cache: Path, name: str, cwd: str | None) -> Path:
    path = cache / "replay" / f"{name}.cpython-311.marshal"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(marshal.dumps({"cwd": cwd, "argv": ["build"]}) if cwd is not None else b"\x00garbage")
    return path


def publish(target: Path, *names: str, mark: bool = True) -> Path:
    """What a build leaves: the marked output directory with objects and their record."""
    objects = target / "buildbpf" / "bpfel-unknown-none"
    objects.mkdir(parents=True, exist_ok=True)
    if mark:
        output.claim(target / "buildbpf")
    for name in names:
        (objects / name).write_bytes(BPF_OBJECT)
    (objects / ".buildbpf-built.json").write_text("{}\n")
    return objects


def cargo_target(target: Path) -> None:
    """What cargo leaves in a target dir it made."""
    (target / "release" / "deps").mkdir(parents=True, exist_ok=True)
    (target / "release" / ".cargo-lock").write_bytes(b"")
    (target / "release" / "deps" / "libx.rlib").write_bytes(b"rlib")
    (target / "bpfel-unknown-none" / "release").mkdir(parents=True, exist_ok=True)
    (target / "bpfel-unknown-none" / "release" / ".cargo-lock").write_bytes(b"")
    (target / "bpfel-unknown-none" / "CACHEDIR.TAG").write_text(clean.CARGO_TAG + "\n")
    (target / "CACHEDIR.TAG").write_text(clean.CARGO_TAG + "\n# created by cargo\n")
    (target / ".rustc_info.json").write_text("{}")


def test_selects_published_objects_and_this_workspaces_replay_records(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    target = ws / "target"
    publish(target, "probe")
    (target / "release").mkdir()  # cargo's: only `--all` (cargo clean) touches it
    cache = tmp_path / "cache"
    at_root = record(cache, "a", str(ws))
    in_crate = record(cache, "b", str(ws / "probe-ebpf"))
    other = record(cache, "c", str(tmp_path / "ws2"))  # a sibling whose name starts alike
    record(cache, "d", None)  # unreadable: not known to be ours
    (cache / "probes").mkdir()  # shared caches stay
    selection = clean.select([target, target], [ws], cache)
    assert selection.paths == (target / "buildbpf", at_root, in_crate)
    assert selection.left == ()
    selection.remove()
    assert not (target / "buildbpf").exists() and not at_root.exists() and not in_crate.exists()
    assert (target / "release").is_dir() and other.exists() and (cache / "probes").is_dir()
    selection.remove()  # a second clean: already gone is fine
    assert clean.select([target], [ws], cache).paths == ()


def test_outside_workspaces_and_their_target_dirs(tmp_path: Path) -> None:
    outside = tmp_path / "ebpf"
    publish(outside / "target", "prog")
    (tmp_path / "ws" / "target").mkdir(parents=True)
    selection = clean.select([tmp_path / "ws" / "target", outside / "target"], [tmp_path / "ws", outside],
                             tmp_path / "no-cache")  # fmt: skip
    assert selection.paths == (outside / "target" / "buildbpf",)


def test_a_folder_of_the_users_named_buildbpf_is_left(tmp_path: Path) -> None:
    """The issue's case: `mkdir buildbpf; echo mine > buildbpf/notes.txt; clean --target-dir .`."""
    ws = tmp_path / "w"
    (ws / "buildbpf").mkdir(parents=True)
    (ws / "buildbpf" / "notes.txt").write_text("mine\n")
    (ws / "buildbpf" / "bpfel-unknown-none").mkdir()  # even where it looks like ours inside
    (ws / "buildbpf" / "bpfel-unknown-none" / "plan.md").write_text("mine too\n")
    selection = clean.select([ws], [ws], tmp_path / "cache")
    assert selection.paths == () and selection.removals == ()
    assert [(k.path, "no .buildbpf-output" in k.why) for k in selection.left] == [(ws / "buildbpf", True)]
    selection.remove()
    assert (ws / "buildbpf" / "notes.txt").read_text() == "mine\n"
    assert (ws / "buildbpf" / "bpfel-unknown-none" / "plan.md").is_file()


def test_a_link_or_file_named_buildbpf_is_the_users(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    publish(elsewhere, "probe")  # even a link to a real output directory
    ws = tmp_path / "ws"
    ws.mkdir()
    (ws / "buildbpf").symlink_to(elsewhere / "buildbpf")
    assert clean.select([ws], [ws], tmp_path / "c").removals == ()
    (ws / "buildbpf").unlink()
    (ws / "buildbpf").write_text("a file\n")
    assert clean.select([ws], [ws], tmp_path / "c").removals == ()


def test_buildbpfs_files_go_and_what_the_user_added_stays(tmp_path: Path) -> None:
    target = tmp_path / "target"
    objects = publish(target, "probe", "other")
    (objects / "NOTES.txt").write_text("mine\n")
    (objects / "copy.o").write_bytes(b"\x7fELF\x02\x01\x01" + b"\x00" * 60)  # ELF, not for BPF
    selection = clean.select([target], [tmp_path], tmp_path / "c")
    assert set(selection.paths) == {objects / "probe", objects / "other", objects / ".buildbpf-built.json",
                                    target / "buildbpf" / output.MARKER}  # fmt: skip
    assert "NOTES.txt" in selection.left[0].why and "copy.o" in selection.left[0].why
    selection.remove()
    assert sorted(p.name for p in objects.iterdir()) == ["NOTES.txt", "copy.o"]


def test_an_output_directory_of_an_older_buildbpf_is_recognised_by_its_content(tmp_path: Path) -> None:
    target = tmp_path / "target"
    publish(target, "probe", mark=False)
    selection = clean.select([target], [tmp_path], tmp_path / "c")
    assert selection.paths == (target / "buildbpf",)
    selection.remove()
    assert not (target / "buildbpf").exists() and target.is_dir()


def test_claim_marks_a_new_or_older_output_directory_and_refuses_a_users_folder(tmp_path: Path) -> None:
    output.claim(tmp_path / "new" / "buildbpf")
    assert (tmp_path / "new" / "buildbpf" / output.MARKER).is_file()
    publish(tmp_path / "old", "probe", mark=False)
    output.claim(tmp_path / "old" / "buildbpf")
    assert (tmp_path / "old" / "buildbpf" / output.MARKER).is_file()
    (tmp_path / "empty" / "buildbpf").mkdir(parents=True)
    output.claim(tmp_path / "empty" / "buildbpf")  # nothing in it to lose
    mine = tmp_path / "home" / "buildbpf"  # `--target-dir ~` and a clone of this project
    (mine / "buildbpf").mkdir(parents=True)
    (mine / "README.md").write_text("# buildbpf\n")
    with pytest.raises(ConfigError) as refused:
        output.claim(mine)
    assert "README.md" in refused.value.message and "--target-dir" in (refused.value.fix or "")
    assert sorted(p.name for p in mine.iterdir()) == ["README.md", "buildbpf"]


def test_all_runs_cargo_clean_only_on_cargos_target_dirs(tmp_path: Path) -> None:
    ws, ebpf = tmp_path / "ws", tmp_path / "ebpf"
    for target in (ws / "target", ebpf / "target"):
        cargo_target(target)
    publish(ws / "target", "probe")
    calls, left = clean.cargo_clean_calls(Path("/usr/bin/cargo"), {"RUSTC": "/usr/bin/rustc"},
                                          [(ws, ws / "target"), (ebpf, ebpf / "target")])  # fmt: skip
    assert [(c.argv, c.cwd) for c in calls] == [
        (("/usr/bin/cargo", "clean", "--target-dir", str(ws / "target")), ws),
        (("/usr/bin/cargo", "clean", "--target-dir", str(ebpf / "target")), ebpf),  # its own target dir
    ]
    assert calls[0].env_set == {"RUSTC": "/usr/bin/rustc"} and left == []


@pytest.mark.parametrize("where", ["root", "home", "workspace", "parent"])
def test_all_refuses_a_target_dir_that_holds_the_workspace_or_home(tmp_path: Path, where: str) -> None:
    ws = tmp_path / "home" / "ws"
    ws.mkdir(parents=True)
    target = {"root": Path("/"), "home": tmp_path / "home", "workspace": ws, "parent": tmp_path}[where]
    with pytest.raises(ConfigError) as refused:
        clean.cargo_clean_calls(Path("cargo"), {}, [(ws, target)], home=tmp_path / "home")
    assert "deletes the whole directory" in refused.value.message


def test_all_leaves_target_dirs_cargo_did_not_make_or_that_hold_more(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    untagged, crowded, linked = tmp_path / "untagged", tmp_path / "crowded", tmp_path / "linked"
    untagged.mkdir()  # nothing of cargo's in it (`mkdir target`)
    cargo_target(crowded)
    (crowded / "thesis.tex").write_text("mine\n")
    linked.symlink_to(crowded)
    places = [(ws, untagged), (ws, crowded), (ws, linked), (ws, tmp_path / "missing")]
    calls, left = clean.cargo_clean_calls(Path("cargo"), {}, places)
    assert calls == []
    assert [(k.path, k.why.split(" ")[0:3]) for k in left] == [
        (untagged, ["cargo", "did", "not"]), (crowded, ["it", "holds", "what"]), (linked, ["it", "is", "a"])]


# --- the property: nothing but buildbpf's and cargo's own files ever disappears ----------------
# (inside cargo's profile directories, marked by its `.cargo-lock`, everything is cargo's: only
# the top level of a target dir is looked at, as `cargo_target_left` says)

PLACES = ["ws/target", "ws", "ws/src", ".", "out", "ws/crate"]


def _snapshot(top: Path) -> set[Path]:
    return {Path(d) / f for d, _, files in os.walk(top) for f in files}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    target_at=st.sampled_from(PLACES),
    built=st.booleans(),
    cargo_made=st.booleans(),
    user_files=st.lists(st.sampled_from([
        "ws/src/main.rs", "ws/Cargo.toml", "notes.txt", "out/mine.txt", "ws/target/mine.txt",
        "ws/buildbpf/notes.txt", "buildbpf/README.md", "out/buildbpf/x.txt",
        "ws/target/buildbpf/bpfel-unknown-none/keep.txt", "ws/target/buildbpf/mine.txt",
        "ws/target/release2/notes.txt", "ws/crate/Cargo.toml",
        "out/buildbpf/bpfel-unknown-none/probe",
    ]), max_size=5),
    all_=st.booleans(),
)
def test_clean_never_removes_what_buildbpf_or_cargo_did_not_make(
    tmp_path_factory: pytest.TempPathFactory, target_at: str, built: bool, cargo_made: bool,
    user_files: list[str], all_: bool,
) -> None:  # fmt: skip
    top = tmp_path_factory.mktemp("tree")
    ws, target = top / "ws", top / target_at
    ws.mkdir(parents=True, exist_ok=True)
    target.mkdir(parents=True, exist_ok=True)
    for name in user_files:  # first: a user's file where buildbpf would publish makes it refuse
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text("the user's\n")
    users = _snapshot(top)
    if cargo_made:
        cargo_target(target)
    if built:
        try:
            output.claim(target / "buildbpf")
        except ConfigError:
            pass  # a folder of the user's: the build stops before publishing
        else:
            publish(target, "probe")
    before = _snapshot(top)
    selection = clean.select([target], [ws], top / "cache")
    selection.remove()
    if all_:
        try:
            calls, _ = clean.cargo_clean_calls(Path("cargo"), {}, [(ws, target)], home=top)
        except ConfigError:
            calls = []
        for call in calls:  # what cargo clean does: the target dir goes, whole
            shutil.rmtree(call.argv[-1])
    gone = before - _snapshot(top)
    assert not gone & users, f"removed the user's {sorted(gone & users)}"


def test_all_cleans_a_target_dir_made_before_cargo_used_it(tmp_path: Path) -> None:
    """cargo writes CACHEDIR.TAG only into a target dir it creates (`mkdir target`, a CI cache
    restore, a test's temporary directory): its builds in there still make it cargo's."""
    target = tmp_path / "target"
    cargo_target(target)
    (target / "CACHEDIR.TAG").unlink()
    calls, left = clean.cargo_clean_calls(Path("cargo"), {}, [(tmp_path / "ws", target)])
    assert [c.argv[-1] for c in calls] == [str(target)] and left == []
    (target / "release" / ".cargo-lock").unlink()  # `release` with no build of cargo's in it
    calls, left = clean.cargo_clean_calls(Path("cargo"), {}, [(tmp_path / "ws", target)])
    assert calls == [] and "release" in left[0].why
