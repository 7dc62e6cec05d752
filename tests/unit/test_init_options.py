"""`init -o KEY=VALUE`: every option has a rule, values that break it are refused, and what is
accepted reaches the generated Rust as exactly one string literal holding the value
(issue #11, item 6). The property and fuzz tests stay in CI: bounded examples, no cargo."""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from buildbpf.cli.app import run_cli
from buildbpf.errors import ConfigError
from buildbpf.scaffold.literals import rust_string
from buildbpf.scaffold.option_rules import OptionRule
from buildbpf.scaffold.program_types import ProgramType, load_program_types, options_for
from buildbpf.scaffold.render import render_workspace
from buildbpf.scaffold.templates import templates_root
from tests.unit.rust_tokens import LexError, Token, tokenize

PROGRAM_TYPES = load_program_types()
OPTIONS = [(kind, key) for kind, program in PROGRAM_TYPES.items() for key in program.options]
EXAMPLES = settings(
    max_examples=20, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# pieces that matter to a Rust lexer, mixed into the random text
NASTY = st.sampled_from([*'"\\\'{}#!/*`$;() \n\r\t\0\u2028\x0b', '")]', "*/", "//", "\\u{0}"])


def texts(min_size: int = 0) -> st.SearchStrategy[str]:
    """Random text, rich in quotes, backslashes, comment markers and line breaks."""
    pieces = st.one_of(st.characters(codec="utf-8"), NASTY)
    return st.lists(pieces, min_size=min_size, max_size=30).map("".join)


def accepted(rule: OptionRule) -> st.SearchStrategy[str]:
    """Values `rule` accepts, with an eye for quotes and backslashes where the rule allows them."""
    if rule.choices:
        return st.sampled_from(rule.choices)
    if rule.pattern is not None:
        return st.from_regex(rule.pattern, fullmatch=True).filter(rule.accepts)
    return texts(min_size=1).filter(rule.accepts)


def rust_files(kind: ProgramType, options: dict[str, str]) -> dict[str, list[Token]]:
    """The tokens of each generated Rust file."""
    files = render_workspace("probe", kind, options)
    return {str(f.relative): tokenize(f.text) for f in files if f.relative.suffix == ".rs"}


@functools.cache
def _baseline(kind: str) -> dict[str, list[Token]]:
    return rust_files(PROGRAM_TYPES[kind], dict(PROGRAM_TYPES[kind].options))


def assert_only_the_literal_changed(kind: ProgramType, key: str, value: str) -> None:
    """Against the defaults, the token streams differ only in string literals that now hold
    `value` (and in comments), and at least one literal holds it exactly."""
    baseline = _baseline(kind.name)
    rendered = rust_files(kind, {**kind.options, key: value})
    # the section literal of a hand-written entry point holds the value inside it
    sections = (kind.section.format_map(kind.options), kind.section.format_map({**kind.options, key: value}))
    found = False
    for path, tokens in rendered.items():
        before = baseline[path]
        assert [t.kind for t in tokens] == [t.kind for t in before], f"{path}: token structure changed"
        for new, old in zip(tokens, before, strict=True):
            if new.kind == "str" or (new.kind == "ident" and kind.rules[key].choices):
                assert (
                    new == old
                    or (old.value == kind.options[key] and new.value == value)
                    or (old.value, new.value) == sections
                ), (path, new)
                found = found or new.value == value
            elif new.kind != "comment":
                assert new == old, (path, new)
    assert found, f"no string literal holds {value!r}"


def test_every_option_has_a_rule_its_default_follows() -> None:
    for kind, key in OPTIONS:
        program = PROGRAM_TYPES[kind]
        assert key in program.rules, f"{kind}: option {key} has no rule"
        assert program.rules[key].accepts(program.options[key]), (kind, key)
    assert all(set(p.rules) == set(p.options) for p in PROGRAM_TYPES.values())


INJECTIONS = [
    ("kprobe", "function", 'x")] pub fn evil() {} #[kprobe(function = "y'),
    ("fentry", "function", "do_unlinkat\nfn evil() {}"),
    ("xdp", "iface", 'lo"), ("x", "y'),
    ("uprobe", "function", "getpid\") ] fn f() {} //"),
    ("tracepoint", "category", "sys calls"),
    ("lsm", "hook", "file_open\u2028"),
    ("cgroup_sockopt", "attach_type", "getsockopt)] fn evil() {} #[cgroup_sockopt(getsockopt"),
    ("classifier", "direction", "sideways"),
    ("perf_event", "frequency", "0"),
    ("perf_event", "frequency", "1; std::process::exit(1)"),
    ("perf_event", "frequency", str(2**64)),
    ("cgroup_skb", "cgroup", "/sys/fs/cgroup\n//"),
    ("uprobe", "binary", ""),
]


@pytest.mark.parametrize(("kind", "key", "value"), INJECTIONS)
def test_values_that_break_the_rule_are_refused_with_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, key: str, value: str
) -> None:
    code = run_cli(["init", str(tmp_path / "p"), "--dry-run", "-t", kind, "-o", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code == 2, err
    rule = PROGRAM_TYPES[kind].rules[key]
    assert f"is not {rule.what}" in err
    assert rule.rule in err
    assert "buildbpf: fix: pass -o" in err
    assert not (tmp_path / "p").exists()


def test_a_path_with_quotes_and_backslashes_is_one_literal() -> None:
    kind = PROGRAM_TYPES["uprobe"]
    value = '/opt/my "app"\\bin/{x}'
    assert_only_the_literal_changed(kind, "binary", value)
    ebpf = next(f.text for f in render_workspace("probe", kind, {**kind.options, "binary": value})
                if f.relative.name == "main.rs" and "ebpf" in str(f.relative))  # fmt: skip
    assert 'link_section = "uprobe//opt/my \\"app\\"\\\\bin/{x}:getpid"' in ebpf


def test_readme_quotes_values_for_the_shell() -> None:
    kind = PROGRAM_TYPES["cgroup_skb"]
    files = render_workspace("probe", kind, {**kind.options, "cgroup": "/sys/fs/cgroup/my app; rm -rf ~"})
    readme = next(f.text for f in files if str(f.relative) == "README.md")
    assert "--cgroup '/sys/fs/cgroup/my app; rm -rf ~'" in readme


def test_templates_filter_every_option_value() -> None:
    """A value reaches a template only through rust_str, rust_comment, rust_ident or sh."""
    trusted = {"name", "ident", "program", "program_type", "versions", "key"}
    for template in templates_root().rglob("*.j2"):
        # a raw block pastes nothing (a workflow's own `${{ runner.os }}`)
        text = re.sub(r"\{% raw %\}.*?\{% endraw %\}", "", template.read_text(), flags=re.DOTALL)
        for expression in re.findall(r"\{\{(.*?)\}\}", text):
            root = re.match(r"\s*(\w+)", expression)
            assert root is not None, (template, expression)
            if root.group(1) in trusted:
                continue
            assert re.search(r"\|\s*(rust_str|rust_comment|rust_ident|sh)\s*$", expression), (
                f"{template}: `{{{{{expression}}}}}` pastes a value unfiltered"
            )


@pytest.mark.parametrize(("kind", "key"), OPTIONS)
@EXAMPLES
@given(data=st.data())
def test_accepted_values_render_to_the_same_literal(kind: str, key: str, data: st.DataObject) -> None:
    program = PROGRAM_TYPES[kind]
    value = data.draw(accepted(program.rules[key]))
    assert_only_the_literal_changed(program, key, value)


@settings(max_examples=200, deadline=None)
@given(value=texts())
def test_rust_string_filter_round_trips(value: str) -> None:
    assert tokenize(f"const X: &str = {rust_string(value)};")[6] == Token("str", value)


@pytest.mark.parametrize("kind", [k for k in PROGRAM_TYPES if PROGRAM_TYPES[k].options])
@settings(max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_random_values_through_init_dry_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], kind: str, data: st.DataObject
) -> None:
    """Fuzz: any -o value is refused (exit 2, no traceback) or renders valid, uninjected Rust."""
    program = PROGRAM_TYPES[kind]
    key = data.draw(st.sampled_from(list(program.options)))
    value = data.draw(texts() | accepted(program.rules[key]))
    code = run_cli(["init", str(tmp_path / "p"), "--dry-run", "-t", kind, "-o", f"{key}={value}"])
    err = capsys.readouterr().err
    assert code in (0, 2), err
    assert "Traceback" not in err
    if code == 2:
        assert "buildbpf: fix:" in err
        with pytest.raises(ConfigError):
            options_for(program, {key: value})
        return
    try:
        assert_only_the_literal_changed(program, key, value)
    except LexError as error:  # pragma: no cover - the failure message is the point
        pytest.fail(f"-o {key}={value!r} renders invalid Rust: {error}")
    assert not (tmp_path / "p").exists()
