"""`buildbpf run`: the runner decision, which binary runs, and where cargo put it."""

from __future__ import annotations

from pathlib import Path

import pytest
import tomlkit

from buildbpf.build import run as running
from buildbpf.build.precedence import workspace_value
from buildbpf.build.settings import LoadedConfig, load_config
from buildbpf.cargo.workspace import from_metadata
from buildbpf.errors import ConfigError
from tests.unit.test_plan import ROOT, metadata

SUDO_LINE = (
    "not root: running with `sudo -E`, since loading eBPF needs privileges "
    "(set `runner` in buildbpf.toml or BUILDBPF_RUNNER to change)"
)


def runner_of(tmp_path: Path, environ: dict[str, str], euid: int, runner: list[str] | None = None
              ) -> tuple[tuple[str, ...], str]:  # fmt: skip
    if runner is not None:
        (tmp_path / "buildbpf.toml").write_text(tomlkit.dumps({"runner": runner}))
    return running.runner(workspace_value("runner", load_config(tmp_path), environ), euid)


def test_root_runs_directly_and_others_through_sudo(tmp_path: Path) -> None:
    assert runner_of(tmp_path, {}, 0) == (
        (),
        "running as root, directly (set `runner` in buildbpf.toml or BUILDBPF_RUNNER to change)",
    )
    assert runner_of(tmp_path, {}, 1000) == (("sudo", "-E"), SUDO_LINE)


def test_the_runner_setting_wins_for_root_and_others(tmp_path: Path) -> None:
    for euid in (0, 1000):
        prefix, line = runner_of(tmp_path, {}, euid, ["doas"])
        assert prefix == ("doas",)
        assert line == "running doas (runner from buildbpf.toml:1 runner)"
    # the variable is split as a shell would, and beats the file
    prefix, line = runner_of(tmp_path, {"BUILDBPF_RUNNER": "sudo -E --preserve-env=PATH"}, 1000, ["doas"])
    assert prefix == ("sudo", "-E", "--preserve-env=PATH")
    assert line == "running sudo -E --preserve-env=PATH (runner from BUILDBPF_RUNNER)"
    # an empty runner means: directly, even when not root
    assert runner_of(tmp_path, {}, 1000, []) == ((), "running directly (runner from buildbpf.toml:1 runner)")


def workspace(extra: tuple[tuple[str, list[str], list[str]], ...] = ()):  # type: ignore[no-untyped-def]
    return from_metadata(metadata(extra), LoadedConfig(None, load_config(Path("/nonexistent")).model))


def test_the_only_userspace_bin_runs() -> None:
    crate, name = running.choose_binary(workspace(), ())
    assert (crate.name, name) == ("probe", "probe")
    assert running.choose_binary(workspace(), ("probe",))[1] == "probe"


def test_several_bins_need_a_choice() -> None:
    ws = workspace((("tool", ["aya"], ["bin"]),))
    with pytest.raises(ConfigError, match="several userspace binaries could run: probe:probe, tool:tool"):
        running.choose_binary(ws, ())
    assert running.choose_binary(ws, ("tool",))[1] == "tool"
    assert running.choose_binary(ws, (), "tool")[1] == "tool"
    with pytest.raises(ConfigError, match="no userspace binary to run called nope"):
        running.choose_binary(ws, (), "nope")


def test_an_xtask_beside_the_loader_is_not_run() -> None:
    # the xtask-era layout: `xtask` and the program are both userspace bins; only one loads eBPF
    ws = workspace((("xtask", ["anyhow"], ["bin"]),))
    loaders = {c.name: c.loads_ebpf for c in ws.userspace()}
    assert loaders == {"probe": True, "probe-common": False, "xtask": False}
    assert running.choose_binary(ws, ())[0].name == "probe"
    assert running.choose_binary(ws, ("xtask",))[1] == "xtask"  # named: runs what was named
    with pytest.raises(ConfigError, match="no userspace binary to run called nope"):
        running.choose_binary(ws, (), "nope")
    # two that load eBPF: still a choice
    two = workspace((("xtask", [], ["bin"]), ("other", ["aya"], ["bin"])))
    with pytest.raises(ConfigError, match="several userspace binaries could run"):
        running.choose_binary(two, ())


def test_an_ebpf_crate_or_a_library_is_not_run() -> None:
    with pytest.raises(ConfigError, match="-p probe-ebpf: an eBPF crate does not run by itself"):
        running.choose_binary(workspace(), ("probe-ebpf",))
    with pytest.raises(ConfigError, match=r"no userspace binary to run \(userspace bins: none\)"):
        running.choose_binary(workspace(), ("probe-common",))
    with pytest.raises(ConfigError, match="crate `prob` is not a member"):
        running.choose_binary(workspace(), ("prob",))


def test_the_binary_is_where_cargo_puts_it() -> None:
    ws = workspace()
    host = "x86_64-unknown-linux-gnu"
    assert (
        running.binary_path(ws, "probe", release=True, triple=host, host=host)
        == ROOT / "target/release/probe"
    )
    assert (
        running.binary_path(ws, "probe", release=False, triple=host, host=host) == ROOT / "target/debug/probe"
    )
    # a configured build.target (or CARGO_BUILD_TARGET) puts it under the triple
    assert running.binary_path(ws, "probe", release=True, triple="aarch64-unknown-linux-gnu", host=host) == (
        ROOT / "target/aarch64-unknown-linux-gnu/release/probe"
    )


def test_the_command_is_runner_binary_args_in_the_users_directory() -> None:
    call = running.run_command(("sudo", "-E"), ROOT / "target/debug/probe", ["--seconds", "1"], Path("/here"))
    assert call.argv == ("sudo", "-E", str(ROOT / "target/debug/probe"), "--seconds", "1")
    assert call.cwd == Path("/here")
