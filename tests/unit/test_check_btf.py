"""`check` and `build --check` judge BTF as the object was built: by the crate's `btf`
setting, by aya-build's way of linking, or not at all for an object named alone (issue #11,
item 14). No cargo: the workspace's metadata and the build are stand-ins."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from buildbpf.build import execute
from buildbpf.build.layout import Published
from buildbpf.build.settings import BpfTarget
from buildbpf.cargo import metadata
from buildbpf.cli.app import run_cli
from buildbpf.objects.report import describe
from tests.unit.fakes import answer_probes, bpf_object, isolate_toolchains, sysroot, workspace_metadata


@pytest.fixture
def workspace(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A workspace (x-ebpf, x) whose x-ebpf object, linked without BTF, is published."""
    isolate_toolchains(monkeypatch, tmp_path, [])
    sysroot(tmp_path / "no-rustup" / "toolchains" / "nightly-x86_64-unknown-linux-gnu")
    answer_probes(monkeypatch)
    monkeypatch.setenv("BUILDBPF_NO_REPLAY", "1")
    monkeypatch.delenv("BUILDBPF_BTF", raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(metadata, "cargo_metadata", lambda rust, cwd: workspace_metadata(tmp_path))
    monkeypatch.setattr(metadata, "outside_metadata", lambda rust, data: [])
    published = tmp_path / "target" / "buildbpf" / BpfTarget.BPFEL.triple / "x-ebpf"
    published.parent.mkdir(parents=True)
    published.write_bytes(bpf_object(btf=False))
    return tmp_path


def reports(capsys: pytest.CaptureFixture[str]) -> list[dict[str, object]]:
    found = json.loads(capsys.readouterr().out)
    assert isinstance(found, list)
    return found


def test_a_named_object_without_btf_passes_with_a_note(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = tmp_path / "probe.o"
    obj.write_bytes(bpf_object(btf=False))
    assert run_cli(["check", "--json", "--no-attach-targets", str(obj)]) == 0
    [report] = reports(capsys)
    assert report["problems"] == []
    notes = report["notes"]
    assert isinstance(notes, list)
    assert any(str(n).startswith("no .BTF section (not required: ") for n in notes)


def test_btf_flag_still_requires_it_of_a_named_object(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    obj = tmp_path / "probe.o"
    obj.write_bytes(bpf_object(btf=False))
    assert run_cli(["check", "--btf", "--no-attach-targets", str(obj)]) == 5
    assert "problem: no .BTF section although BTF is on" in capsys.readouterr().out


def test_a_half_btf_object_named_alone_is_noted(tmp_path: Path) -> None:
    obj = tmp_path / "probe.o"
    obj.write_bytes(bpf_object(btf=True, btf_ext=False))
    report = describe(obj)
    assert report.ok and report.btf
    assert any(n.startswith(".BTF without .BTF.ext") for n in report.notes)
    assert not describe(obj, btf_required=True).ok


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        ("[crates.x-ebpf]\nbtf = false\n", 0),
        ("[defaults]\nbtf = false\n", 0),
        ("", 5),  # BTF is on by default: an object without it is a problem
        ("[crates.x-ebpf]\nbtf = true\n", 5),
    ],
    ids=["crate-off", "defaults-off", "default-on", "crate-on"],
)
def test_the_workspaces_objects_are_judged_by_their_crate_settings(
    workspace: Path, capsys: pytest.CaptureFixture[str], config: str, expected: int
) -> None:
    (workspace / "buildbpf.toml").write_text(config)
    assert run_cli(["check", "--json", "--no-attach-targets"]) == expected
    [report] = reports(capsys)
    if expected == 0:
        notes = report["notes"]
        assert isinstance(notes, list)
        key = "crates.x-ebpf.btf" if config.startswith("[crates") else "defaults.btf"
        assert any(f"crate x-ebpf: btf = false (buildbpf.toml:2 {key})" in str(n) for n in notes)
    else:
        assert report["problems"] == ["no .BTF section although BTF is on"]


def test_the_env_and_the_flag_override_the_file(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUILDBPF_BTF", "0")
    assert run_cli(["check", "--no-attach-targets"]) == 0
    assert run_cli(["check", "--btf", "--no-attach-targets"]) == 5  # the explicit override
    monkeypatch.delenv("BUILDBPF_BTF")
    (workspace / "buildbpf.toml").write_text("[defaults]\nbtf = false\n")
    assert run_cli(["check", "--btf", "--no-attach-targets"]) == 5
    capsys.readouterr()


def test_objects_aya_build_linked_are_judged_as_the_build_gated_them(
    workspace: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """aya-build 0.1.2 links without --btf; `gate_aya_build` accepts that, so `check` does."""

    def aya_template(rust: object, cwd: object) -> dict[str, object]:
        data = workspace_metadata(workspace)
        packages = data["packages"]
        assert isinstance(packages, list)
        packages[1]["dependencies"] += [
            {"name": "aya-build", "kind": "build"},
            {"name": "x-ebpf", "kind": "build"},
        ]
        return data

    monkeypatch.setattr(metadata, "cargo_metadata", aya_template)
    assert run_cli(["check", "--no-attach-targets"]) == 0


def test_build_check_judges_each_object_as_it_was_built(
    workspace: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`build --check` after a build with `btf = false` used to fail with "BTF is on" (exit 5)."""
    (workspace / "buildbpf.toml").write_text("[crates.x-ebpf]\nbtf = false\n")
    executable_linker = workspace / "bin" / "bpf-linker"
    executable_linker.parent.mkdir()
    executable_linker.write_text("#!/bin/sh\n")
    executable_linker.chmod(0o755)
    monkeypatch.setenv("BUILDBPF_BPF_LINKER", str(executable_linker))
    obj = workspace / "target" / "buildbpf" / BpfTarget.BPFEL.triple / "x-ebpf"
    data = obj.read_bytes()

    def fake_execute(plan: object, **_: object) -> execute.Result:
        published = Published(
            "x-ebpf", "bpfel", "x-ebpf", obj, "0" * 64, len(data), ("xdp_pass",), "GPL", False
        )
        return execute.Result(objects=[published])

    monkeypatch.setattr(execute, "execute", fake_execute)
    monkeypatch.setattr(execute, "prepare_sources", lambda context, options=None: None)
    assert run_cli(["build", "--check", "--message-format", "json"]) == 0
    [report] = json.loads(capsys.readouterr().out)["checks"]
    assert report["problems"] == []
    (workspace / "buildbpf.toml").write_text("")
    assert run_cli(["build", "--check", "--message-format", "json"]) == 5
    [report] = json.loads(capsys.readouterr().out)["checks"]
    assert report["problems"] == ["no .BTF section although BTF is on"]
