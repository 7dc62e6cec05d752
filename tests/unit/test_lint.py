"""`buildbpf lint`: the build plan's cargo calls with clippy in place of build, and the error
when this toolchain has no clippy (issue #14, item 5)."""

from __future__ import annotations

from pathlib import Path

import pytest

from buildbpf.build.lint import clippy_path, fix_hint, lint_calls, require_objects
from buildbpf.build.plan import plan_build
from buildbpf.build.precedence import effective
from buildbpf.build.settings import load_config
from buildbpf.build.steps import BuildOptions
from buildbpf.cargo.workspace import from_metadata
from buildbpf.cli.app import run_cli
from buildbpf.errors import ConfigError, ToolchainError
from buildbpf.toolchain.rust import Mode, RustToolchain
from buildbpf.toolchain.versions import RustcInfo, Version
from tests.unit.test_plan import metadata

INFO = RustcInfo("1.96.0", Version(1, 96, 0), "stable", None, "x86_64-unknown-linux-gnu", Version(22, 1, 8))


def rust(bin_dir: Path, rustup_name: str | None = None) -> RustToolchain:
    return RustToolchain(
        "test", Mode.BOOTSTRAP, bin_dir / "cargo", bin_dir / "rustc", bin_dir.parent, INFO, rustup_name
    )


def plan(tmp_path: Path, toolchain: RustToolchain):  # type: ignore[no-untyped-def]
    config = load_config(tmp_path)
    workspace = from_metadata(metadata(), config)
    settings = {c.name: effective(c.name, config, environ={}) for c in workspace.crates}
    return plan_build(workspace, settings, cargo=toolchain.cargo, cargo_env=toolchain.cargo_env(),
                      linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                      options=BuildOptions(), environ={})  # fmt: skip


def test_lint_is_the_build_plan_with_clippy(tmp_path: Path) -> None:
    toolchain = rust(Path("/usr/bin"))
    built = plan(tmp_path, toolchain)
    calls = lint_calls(built, toolchain, ["-D", "warnings"], clippy=Path("/usr/bin/cargo-clippy"))
    assert [c.what for c in calls] == [
        "eBPF crates probe-ebpf (bpfel)",
        "userspace crates probe, probe-common",
    ]
    for call, build in zip(calls, built.calls, strict=True):
        argv = call.command.argv
        assert argv[:2] == ("/usr/bin/cargo-clippy", "clippy")
        assert argv[-3:] == ("--", "-D", "warnings")
        # the build's arguments (target, build-std, profile) less the JSON message format
        json_format = ("--message-format", "json-render-diagnostics")
        assert [a for a in build.argv[2:] if a not in json_format] == list(argv[2:-3])
        assert call.command.env_set == {**build.env_set, "CARGO": "/usr/bin/cargo"}
        assert call.command.cwd == build.cwd
    ebpf = calls[0].command.argv
    assert "-Z" in ebpf and "build-std=core" in ebpf and "bpfel-unknown-none" in ebpf
    assert calls[0].command.env_set["CARGO_ENCODED_RUSTFLAGS"].startswith("-C\x1fdebuginfo=2")


def test_userspace_is_linted_with_the_clippy_of_the_toolchain_it_builds_with(tmp_path: Path) -> None:
    # a workspace pinning a nightly without rust-src: eBPF builds with Debian's rustc,
    # userspace with the pin; Debian's clippy-driver would refuse its #![feature]s
    ebpf = rust(Path("/usr/bin"))
    nightly = rust(tmp_path / "nightly" / "bin", "nightly")
    (tmp_path / "nightly" / "bin").mkdir(parents=True)
    (tmp_path / "nightly" / "bin" / "cargo-clippy").write_text("")
    config = load_config(tmp_path)
    workspace = from_metadata(metadata(), config)
    settings = {c.name: effective(c.name, config, environ={}) for c in workspace.crates}
    built = plan_build(workspace, settings, cargo=ebpf.cargo, cargo_env=ebpf.cargo_env(),
                       linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                       options=BuildOptions(), environ={},
                       userspace_tools=(nightly.cargo, nightly.cargo_env()))  # fmt: skip
    assert built.userspace is not None and built.userspace.call.argv[0] == str(nightly.cargo)
    assert built.userspace.call.env_set["RUSTC"] == str(nightly.rustc)
    assert "RUSTC_BOOTSTRAP" not in built.userspace.call.env_set
    ebpf_call, user_call = lint_calls(built, ebpf, clippy=Path("/usr/bin/cargo-clippy"), userspace=nightly)
    assert ebpf_call.command.argv[0] == "/usr/bin/cargo-clippy"
    assert user_call.command.argv[0] == str(tmp_path / "nightly" / "bin" / "cargo-clippy")
    assert user_call.command.env_set["CARGO"] == str(nightly.cargo)


def test_no_clippy_args_means_no_separator(tmp_path: Path) -> None:
    toolchain = rust(Path("/usr/bin"))
    calls = lint_calls(plan(tmp_path, toolchain), toolchain, clippy=Path("/x/cargo-clippy"))
    assert all("--" not in c.command.argv for c in calls)


@pytest.mark.parametrize(
    ("rustup_name", "fix"),
    [
        (None, "apt-get install rust-web-clippy"),
        ("nightly", "rustup component add clippy --toolchain nightly"),
    ],
)
def test_a_toolchain_without_clippy_is_named_with_the_fix(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, rustup_name: str | None, fix: str
) -> None:
    bin_dir = Path("/usr/bin") if rustup_name is None else tmp_path / "bin"
    toolchain = rust(bin_dir, rustup_name)
    monkeypatch.setattr(Path, "is_file", lambda self: False)  # whatever this machine has
    with pytest.raises(ToolchainError) as caught:
        clippy_path(toolchain)
    assert f"cargo-clippy not found beside {bin_dir / 'rustc'}" in caught.value.message
    assert caught.value.fix is not None and fix in caught.value.fix
    assert ToolchainError.exit_code == 3


def test_clippy_beside_rustc_is_found(tmp_path: Path) -> None:
    (tmp_path / "cargo-clippy").write_text("")
    assert clippy_path(rust(tmp_path, "stable")) == tmp_path / "cargo-clippy"


def test_lint_is_a_command(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["lint", "--help"]) == 0
    out = capsys.readouterr().out
    assert "clippy" in out and "-D warnings" in out


def test_userspace_is_linted_only_once_the_objects_exist(tmp_path: Path) -> None:
    built = plan(tmp_path, rust(Path("/usr/bin")))
    assert built.userspace is not None
    objects = Path(built.userspace.call.env_set[built.objects_env])
    assert not objects.exists()
    with pytest.raises(ConfigError, match="no verified eBPF objects in") as caught:
        require_objects(built)
    assert caught.value.fix == "run `buildbpf build` once, then `buildbpf lint`"


def test_lint_checks_the_ebpf_crates_aya_build_builds(tmp_path: Path) -> None:
    # aya-template: userspace's build.rs builds the eBPF crate with aya-build, so the build plan
    # has no eBPF step for it; lint still runs clippy on its code with the bpf target
    data = metadata()
    packages = data["packages"]
    assert isinstance(packages, list)
    probe = next(p for p in packages if p["name"] == "probe")
    probe["dependencies"] += [{"name": "aya-build", "kind": "build"}, {"name": "probe-ebpf", "kind": "build"}]
    config = load_config(tmp_path)
    workspace = from_metadata(data, config)
    assert [c.name for c in workspace.built_by_aya_build()] == ["probe-ebpf"]
    settings = {c.name: effective(c.name, config, environ={}) for c in workspace.crates}
    toolchain = rust(Path("/usr/bin"))

    def planned(every: bool):  # type: ignore[no-untyped-def]
        return plan_build(workspace, settings, cargo=toolchain.cargo, cargo_env=toolchain.cargo_env(),
                          linker=Path("/opt/bpf-linker"), userspace_triple="x86_64-unknown-linux-gnu",
                          options=BuildOptions(), environ={}, every_ebpf_crate=every)  # fmt: skip

    assert planned(False).ebpf == ()  # the build: compiled once, by aya-build
    calls = lint_calls(planned(True), toolchain, clippy=Path("/usr/bin/cargo-clippy"))
    assert [c.what for c in calls] == [
        "eBPF crates probe-ebpf (bpfel)",
        "userspace crates probe, probe-common",
    ]
    assert "bpfel-unknown-none" in calls[0].command.argv


# cargo's own line after fixable warnings, as clippy on the eBPF crate prints it
HINT = (
    'warning: `probe-ebpf` (bin "probe") generated 1 warning (run `cargo clippy --fix --bin "probe" '
    "-p probe-ebpf -- ` to apply 1 suggestion)\n"
)


@pytest.mark.parametrize(
    ("said", "shown"),
    [
        (HINT, "(run `buildbpf lint --fix -p probe-ebpf` to apply 1 suggestion)"),
        (
            HINT.replace("-- `", "-- -W clippy::pedantic`"),
            "(run `buildbpf lint --fix -p probe-ebpf -- -W clippy::pedantic` to apply",
        ),
        (
            HINT.replace('--bin "probe" ', "--lib ").replace("warning:", "\x1b[1m\x1b[33mwarning\x1b[0m:"),
            "(run `buildbpf lint --fix -p probe-ebpf` to apply",
        ),
    ],
)
def test_the_ebpf_fix_hint_names_a_command_that_works(said: str, shown: str) -> None:
    """A plain `cargo clippy --fix` lacks the bpf target, build-std and the toolchain."""
    assert shown in fix_hint(said)
    assert "cargo clippy --fix" not in fix_hint(said)
    assert fix_hint("   Checking probe-ebpf v0.1.0\n") == "   Checking probe-ebpf v0.1.0\n"


def test_fix_reaches_every_clippy_call(tmp_path: Path) -> None:
    toolchain = rust(Path("/usr/bin"))
    fix = ("--fix", "--allow-dirty")
    calls = lint_calls(plan(tmp_path, toolchain), toolchain, clippy=Path("/x/cargo-clippy"), fix=fix)
    assert len(calls) == 2 and all(c.command.argv[1:4] == ("clippy", *fix) for c in calls)


def test_a_rewrite_sees_whole_lines_and_the_capture_stays_as_said() -> None:
    """`_process` shows a streamed stderr through a rewrite, a line at a time, even when the
    pipe cuts a line in two; what is kept (for advice) is what cargo said."""
    import io

    from buildbpf import _process

    class Chunks(io.RawIOBase):
        def __init__(self, *chunks: bytes) -> None:
            self.chunks = list(chunks)

        def read1(self, size: int = -1) -> bytes:
            return self.chunks.pop(0) if self.chunks else b""

    cut = HINT.index("-p probe")
    source = Chunks(b"   Checking probe\r", HINT[:cut].encode(), HINT[cut:].encode(), b"tail")
    kept: list[bytes] = []
    shown = io.StringIO()
    _process._pump(source, kept, shown, fix_hint)  # type: ignore[arg-type]
    assert shown.getvalue() == "   Checking probe\r" + fix_hint(HINT) + "tail"
    assert b"".join(kept).decode() == "   Checking probe\r" + HINT + "tail"


def test_allow_flags_need_fix(capsys: pytest.CaptureFixture[str]) -> None:
    assert run_cli(["lint", "--allow-dirty"]) == 2
    assert "--allow-dirty only applies with --fix" in capsys.readouterr().err
