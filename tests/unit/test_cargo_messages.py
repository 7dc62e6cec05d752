"""cargo's JSON messages are read in one place (buildbpf/cargo/messages.py), and the replay
fast path that uses it still imports nothing heavy."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from buildbpf.cargo import messages
from buildbpf.cargo.config_file import config_chain


def message(reason: str, **fields: object) -> str:
    return json.dumps({"reason": reason, **fields}, separators=(",", ":"))


STDOUT = "\n".join(
    [
        message("compiler-artifact", package_id="a", executable=None, fresh=True),
        message("compiler-artifact", package_id="b", executable="/t/release/b", fresh=True),
        "   Compiling c v0.1.0",  # not JSON: skipped
        '{"reason":"compiler-artifact", broken',  # not JSON either
        message("compiler-artifact", package_id="c", executable="/t/release/c", fresh=False),
        message(
            "build-script-executed", package_id="path+file:///ws/x#x-user@0.1.0", out_dir="/t/build/x-1/out"
        ),
        message("build-finished", success=True),
    ]
)


def test_executables_and_the_rebuilt_ones() -> None:
    assert messages.executables(STDOUT) == [Path("/t/release/b"), Path("/t/release/c")]
    assert messages.rebuilt_executables(STDOUT) == {Path("/t/release/c")}


def test_build_script_out_dirs_by_package_name() -> None:
    assert messages.build_script_out_dirs(STDOUT) == {"x-user": Path("/t/build/x-1/out")}


def test_all_fresh_is_about_compiled_units_only() -> None:
    fresh = STDOUT.replace('"fresh":false', '"fresh":true')
    fresh = fresh.replace('{"reason":"compiler-artifact", broken', "")
    assert messages.all_fresh(fresh)
    assert not messages.all_fresh(STDOUT)
    assert messages.all_fresh(message("build-finished", success=True))


def test_the_replay_path_imports_only_light_standard_modules() -> None:
    root = Path(__file__).resolve().parents[2]
    code = (
        "import sys, buildbpf.build.replay, buildbpf.cargo.messages; "
        "print(' '.join(sorted(sys.modules)))"
    )
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(
        [sys.executable, "-S", "-c", code], env=env, capture_output=True, text=True, check=True
    )
    loaded = set(done.stdout.split())
    assert "buildbpf.cargo.messages" in loaded
    heavy = {"json", "re", "pathlib", "typing", "logging", "typer", "pydantic", "plumbum", "tomlkit"}
    assert loaded & heavy == set()
    assert {m for m in loaded if m.startswith("buildbpf")} <= {
        "buildbpf", "buildbpf._child", "buildbpf.xdg", "buildbpf.build", "buildbpf.build.replay",
        "buildbpf.cargo", "buildbpf.cargo.messages", "buildbpf.terminal",
    }  # fmt: skip


def test_the_cargo_config_chain_is_walked_from_cwd_up_then_home(tmp_path: Path) -> None:
    cwd = tmp_path / "ws" / "crate"
    chain = config_chain(cwd, home=tmp_path / "home")
    assert chain[:4] == [
        cwd / ".cargo" / "config.toml",
        cwd / ".cargo" / "config",
        cwd.parent / ".cargo" / "config.toml",
        cwd.parent / ".cargo" / "config",
    ]
    assert chain[-2:] == [tmp_path / "home" / "config.toml", tmp_path / "home" / "config"]
    assert Path("/.cargo/config.toml") in chain
