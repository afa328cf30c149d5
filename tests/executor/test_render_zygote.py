"""Which start commands get a warm zygote: ``render-workflows module:attr`` whose script names
a Python interpreter; anything else is started cold."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from baton.executor.render_zygote import RenderEntry, render_entry


def script(directory: Path, first_line: str, name: str = "render-workflows") -> Path:
    path = directory / name
    path.write_text(f"{first_line}\nimport sys\n")
    path.chmod(0o755)
    return path


def test_script_with_an_absolute_python_shebang_is_warm(tmp_path: Path) -> None:
    path = script(tmp_path, f"#!{sys.executable}")

    assert render_entry((str(path), "main:app"), str(tmp_path)) == RenderEntry(
        python=sys.executable, entry="main:app"
    )


def test_env_shebang_resolves_the_interpreter_on_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    os.symlink(sys.executable, bin_dir / "python3")
    script(bin_dir, "#!/usr/bin/env python3")
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")

    entry = render_entry(("render-workflows", "pkg.mod:app"), str(tmp_path))

    assert entry == RenderEntry(python=str(bin_dir / "python3"), entry="pkg.mod:app")


def test_relative_script_path_is_resolved_in_the_code_directory(tmp_path: Path) -> None:
    (tmp_path / "venv").mkdir()
    script(tmp_path / "venv", f"#!{sys.executable}")

    entry = render_entry(("venv/render-workflows", "main:app"), str(tmp_path))

    assert entry is not None and entry.python == sys.executable


@pytest.mark.parametrize(
    "argv",
    [
        ("python", "main.py"),
        ("render-workflows",),
        ("render-workflows", "main"),
        ("render-workflows", "main:app", "--extra"),
        ("render-workflows", ":app"),
        ("no-such-render-workflows-dir/render-workflows", "main:app"),
    ],
)
def test_other_commands_are_started_cold(tmp_path: Path, argv: tuple[str, ...]) -> None:
    assert render_entry(argv, str(tmp_path)) is None


@pytest.mark.parametrize(
    "first_line",
    [
        "#!/bin/sh",  # pip's trampoline for interpreter paths too long for a shebang
        "no shebang at all",
        "#!/no/such/python3",
        "#!relative/python3",
    ],
)
def test_script_whose_interpreter_cannot_be_read_is_started_cold(
    tmp_path: Path, first_line: str
) -> None:
    path = script(tmp_path, first_line)

    assert render_entry((str(path), "main:app"), str(tmp_path)) is None


def test_zygote_argv_runs_zygote_py_by_path_with_the_entry(tmp_path: Path) -> None:
    argv = RenderEntry(python="/py", entry="main:app").zygote_argv(str(tmp_path))

    assert argv[0] == "/py" and argv[1] == "-c"
    assert argv[3].endswith("executor/zygote.py")
    assert argv[4:] == ["--render-entry", "main:app", "--cwd", str(tmp_path)]
