"""`BUILDBPF_*` variables are read strictly: a typo in a name or a value is said, never
silently ignored (siblings of issue #11, items 15 and 16)."""

from __future__ import annotations

import logging

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buildbpf.build import replay
from buildbpf.build.environment import env_flag, unknown_variables
from buildbpf.build.precedence import SETTINGS, effective, parse_cli_targets, workspace_value
from buildbpf.build.settings import BpfTarget, ConfigFile, LoadedConfig
from buildbpf.cli.app import run_cli
from buildbpf.errors import ConfigError


def test_an_unknown_buildbpf_variable_is_named_with_a_guess() -> None:
    lines = unknown_variables({"BUILDBPF_TARGET": "bpfeb", "BUILDBPF_BTF": "0", "PATH": "/bin"})
    assert lines == [
        "BUILDBPF_TARGET is not a buildbpf variable and changes nothing; did you mean BUILDBPF_TARGETS?"
    ]
    [far] = unknown_variables({"BUILDBPF_ZZZZZZZZZZZZZZZ": "1"})
    assert "buildbpf reads BUILDBPF_TARGETS" in far


def test_the_cli_warns_about_it(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("BUILDBPF_LINKER", "/opt/bpf-linker")
    with caplog.at_level(logging.WARNING, logger="buildbpf"):
        assert run_cli(["schema"]) == 0
    assert any(
        "BUILDBPF_LINKER is not a buildbpf variable" in r.message and "BUILDBPF_BPF_LINKER" in r.message
        for r in caplog.records
    )


@pytest.mark.parametrize(
    ("raw", "expected"), [("1", True), (" TRUE ", True), ("0", False), ("off", False), ("", None)]
)
def test_booleans(raw: str, expected: bool | None) -> None:
    assert env_flag({"BUILDBPF_BTF": raw}, "BUILDBPF_BTF") is expected


def test_a_boolean_that_is_not_one_is_refused_naming_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"^BUILDBPF_NO_REPLAY='maybe' is not a boolean"):
        env_flag({"BUILDBPF_NO_REPLAY": "maybe"}, "BUILDBPF_NO_REPLAY")


@pytest.mark.parametrize(
    ("raw", "replays"), [("0", True), ("false", True), ("", True), ("1", False), ("x", False)]
)
def test_no_replay_zero_keeps_the_fast_path(raw: str, replays: bool) -> None:
    """BUILDBPF_NO_REPLAY=0 used to turn the replay off: any non-empty value did."""
    assert replay.eligible(["build"], {"BUILDBPF_NO_REPLAY": raw}) is replays


def test_build_refuses_a_no_replay_that_is_not_a_boolean(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BUILDBPF_NO_REPLAY", "please")
    assert run_cli(["build", "--print-plan"]) == 2
    assert "BUILDBPF_NO_REPLAY='please' is not a boolean" in capsys.readouterr().err


@pytest.mark.parametrize("raw", [",", " ", " , ", "bpfel,nope"])
def test_targets_that_name_no_target_are_refused(raw: str) -> None:
    """`--target ,` (or BUILDBPF_TARGETS=,) used to build no object at all, silently."""
    with pytest.raises(ConfigError, match="is not bpfel, bpfeb or all"):
        parse_cli_targets(raw)


def test_a_target_named_twice_is_built_once() -> None:
    assert parse_cli_targets("bpfel, bpfel-unknown-none") == [BpfTarget.BPFEL]
    assert parse_cli_targets(" all ") == [BpfTarget.BPFEL, BpfTarget.BPFEB]


# --- issue #20 item 8: a runner a shell could not split, read before building ------------------


@pytest.mark.parametrize(
    ("raw", "why"),
    [
        ('sudo "', "no closing quotation"),
        ("sudo '-E", "no closing quotation"),
        ("sudo \\", "no escaped character"),
        ('sudo "" -E', "an empty word"),
        ("''", "an empty word"),
    ],
)
def test_a_runner_a_shell_cannot_split_is_a_config_error(raw: str, why: str) -> None:
    """`BUILDBPF_RUNNER='sudo "'` used to be a ValueError traceback, after a full build."""
    with pytest.raises(ConfigError, match=f"^BUILDBPF_RUNNER=.* {why}") as caught:
        workspace_value("runner", LoadedConfig(None, ConfigFile()), {"BUILDBPF_RUNNER": raw})
    assert caught.value.exit_code == 2 and caught.value.fix and "BUILDBPF_RUNNER" in caught.value.fix


def test_a_runner_is_split_as_a_shell_would() -> None:
    value = workspace_value("runner", LoadedConfig(None, ConfigFile()), {"BUILDBPF_RUNNER": "sudo -E 'a b'"})
    assert value.value == ["sudo", "-E", "a b"] and value.origin == "BUILDBPF_RUNNER"


# --- property: any value of any setting's variable is a value or a ConfigError (issue #20) -------

ENV_SETTINGS = [s for s in SETTINGS if s.env is not None]
env_values = st.one_of(
    st.text(alphabet=st.characters(blacklist_characters="\x00"), max_size=30),
    st.sampled_from(['"', "'", "\\", "a\\", '"a b', "nan", "inf", "-1", "1e999", "0x10", " all ", ",", "v9"]),
)


@settings(max_examples=300, deadline=None)
@given(values=st.dictionaries(st.sampled_from([s.env for s in ENV_SETTINGS]), env_values, max_size=4))
def test_any_variable_value_is_a_value_or_a_config_error(values: dict[str, str]) -> None:
    config = LoadedConfig(None, ConfigFile())
    try:
        effective("probe-ebpf", config, values)
        for item in ENV_SETTINGS:
            if item.scope == "workspace" and len(item.path) == 1:
                workspace_value(item.name, config, values)
    except ConfigError as error:
        assert error.exit_code == 2 and any(error.message.startswith(name) for name in values)
