"""Property suite: any `buildbpf.toml` (or `.cargo/config.toml`) gives a result or a
BuildbpfError, never another exception, so never a traceback (issue #11).

Bounded (a few hundred examples, no deadline) so it runs in every CI job, as the unit tests do.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import pytest
import tomlkit
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildbpf.build.precedence import cargo_timeout, effective
from buildbpf.build.settings import load_config
from buildbpf.cargo import config_file
from buildbpf.errors import BuildbpfError, ConfigError

FUZZ = settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
KNOWN_KEYS = [
    "toolchain", "bpf_linker", "cargo_timeout", "defaults", "crates", "probe-ebpf", "role",
    "targets", "btf", "debuginfo", "opt_level", "lto", "codegen_units", "build_std", "linker",
    "cpu", "cpu_features", "unroll_loops", "ignore_inline_never", "extra_args", "features",
    "no_default_features", "rustflags", "bpf_target_arch", "workspace", "metadata", "buildbpf",
]  # fmt: skip
keys = st.one_of(st.sampled_from(KNOWN_KEYS), st.text(min_size=1, max_size=12))
scalars = st.one_of(
    st.booleans(),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(),
    st.text(max_size=20),
    st.sampled_from(["bpfel", "bpfeb", "all", "v3", "probe", "core", "alloc", "ebpf", "3", "z"]),
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=30,
)
documents = st.dictionaries(keys, values, max_size=6)


def dumps(document: dict[str, Any]) -> str | None:
    try:
        return tomlkit.dumps(document)
    except Exception:  # tomlkit cannot write every dict (e.g. a nan inside an inline table)
        return None


def loads_or_domain_error(root: Path, text: str | bytes) -> None:
    path = root / "buildbpf.toml"
    if isinstance(text, str):
        path.write_text(text, newline="")
    else:
        path.write_bytes(text)
    try:
        config = load_config(root)
        for crate in ["probe-ebpf", *config.model.crates]:
            effective(crate, config, environ={})
        timeout = cargo_timeout(config, {}).value
        assert math.isfinite(timeout) and timeout > 0
    except BuildbpfError as error:
        assert error.message and error.exit_code == 2


@FUZZ
@given(document=documents)
def test_structured_documents(tmp_path: Path, document: dict[str, Any]) -> None:
    text = dumps(document)
    if text is not None:
        loads_or_domain_error(tmp_path, text)


BASE = """\
toolchain = "nightly"
cargo_timeout = 60
[defaults]
btf = true
targets = ["bpfel"]
[crates.probe-ebpf]
linker = { cpu = "v3" }
features = ["a"]
"""


@FUZZ
@given(
    position=st.integers(min_value=0, max_value=len(BASE)),
    insert=st.one_of(
        st.text(max_size=8),
        st.sampled_from(["\ufeff", "\r\n", "[", "]]", "{", "=", '"', "'''", "\\u", "\x00", "[" * 3000]),
    ),
    cut=st.integers(min_value=0, max_value=6),
    crlf=st.booleans(),
)
def test_mutations_of_a_real_config(tmp_path: Path, position: int, insert: str, cut: int, crlf: bool) -> None:
    text = BASE[:position] + insert + BASE[position + cut :]
    loads_or_domain_error(tmp_path, text.replace("\n", "\r\n") if crlf else text)


@FUZZ
@given(data=st.binary(max_size=200))
def test_random_bytes(tmp_path: Path, data: bytes) -> None:
    loads_or_domain_error(tmp_path, data)


KEYS = config_file.managed_keys(["bpfel-unknown-none"], {"bpfel-unknown-none": ["-C", "x"]}, ["core"])


@FUZZ
@given(document=documents, crlf=st.booleans(), bom=st.booleans())
def test_cargo_config_rewrites(document: dict[str, Any], crlf: bool, bom: bool) -> None:
    text = dumps(document)
    if text is None:
        return
    text = ("\ufeff" if bom else "") + (text.replace("\n", "\r\n") if crlf else text)
    try:
        new, _ = config_file.render(text, KEYS, Path("config.toml"))
    except BuildbpfError as error:
        assert error.exit_code == 2
        return
    assert new.startswith("\ufeff") == bom
    if crlf and "\n" in text:
        assert new.count("\n") == new.count("\r\n")
    again, _ = config_file.render(new, KEYS, Path("config.toml"))
    assert again == new  # a second run changes nothing


# --- issue #20: values no program can be started with are refused when the file is read ------


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('[defaults]\nfeatures = ["a\\u0000"]\n', "buildbpf.toml:2 defaults.features"),
        ('[crates.probe-ebpf]\nrustflags = ["x\\u0000"]\n', "buildbpf.toml:2 crates.probe-ebpf.rustflags"),
        ('[defaults.linker]\nextra_args = ["\\u0000"]\n', "buildbpf.toml:2 defaults.linker.extra_args"),
        ('[defaults]\nbpf_target_arch = "x\\u0000"\n', "buildbpf.toml:2 defaults.bpf_target_arch"),
        ('runner = ["sudo\\u0000"]\n', "buildbpf.toml:1 runner"),
        ('toolchain = "nightly\\u0000"\n', "buildbpf.toml:1 toolchain"),
        ('[crates."a\\u0000"]\nbtf = true\n', "buildbpf.toml crates.a\\u0000"),
    ],
)
def test_a_nul_character_is_refused_naming_its_key(tmp_path: Path, text: str, where: str) -> None:
    """`features = ["a\\u0000"]` used to reach cargo's argv: a ValueError traceback."""
    (tmp_path / "buildbpf.toml").write_text(text)
    with pytest.raises(ConfigError, match="holds a NUL character") as caught:
        load_config(tmp_path)
    assert caught.value.message.startswith(where), caught.value.message


@pytest.mark.parametrize("runner", ['[""]', '["sudo", ""]'])
def test_an_empty_word_in_the_runner_is_refused(tmp_path: Path, runner: str) -> None:
    """`runner = [""]` used to fail only after the whole build, as `cannot run : ...`."""
    (tmp_path / "buildbpf.toml").write_text(f"runner = {runner}\n")
    with pytest.raises(ConfigError, match=r"buildbpf.toml:1: runner: .*empty string names no program"):
        load_config(tmp_path)
