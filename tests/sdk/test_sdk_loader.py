"""``load_app``: file and module targets, with and without an attribute."""

from __future__ import annotations

import sys
import textwrap
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from baton.errors import RegistrationFailed
from baton.sdk import Workflows
from baton.sdk.loader import load_app

APP = """
from baton.sdk import Workflows
{extra}
app = Workflows()

@app.task
def square(a: int) -> int:
    return a * a
"""


@pytest.fixture
def unique(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    monkeypatch.setattr(sys, "path", list(sys.path))
    name = f"flows_{uuid.uuid4().hex[:8]}"
    yield name
    for key in [k for k in sys.modules if k == name or k.startswith(name + ".")]:
        del sys.modules[key]


def write(path: Path, extra: str = "") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(APP.format(extra=extra)))
    return path


def test_file_target_with_attribute(tmp_path: Path, unique: str) -> None:
    write(tmp_path / "sub" / f"{unique}.py")
    app = load_app(f"sub/{unique}.py:app", cwd=str(tmp_path))
    assert isinstance(app, Workflows) and list(app.registry) == ["square"]
    assert sys.path[0] == str(tmp_path / "sub")
    assert load_app(f"sub/{unique}.py:app", cwd=str(tmp_path)) is app


def test_file_target_finds_the_single_app(tmp_path: Path, unique: str) -> None:
    write(tmp_path / f"{unique}.py", extra="alias = None")
    assert list(load_app(str(tmp_path / f"{unique}.py")).registry) == ["square"]


def test_module_target_from_cwd(tmp_path: Path, unique: str) -> None:
    write(tmp_path / unique / "__init__.py", extra="")
    write(tmp_path / unique / "flows.py")
    app = load_app(f"{unique}.flows:app", cwd=str(tmp_path))
    assert list(app.registry) == ["square"]
    assert load_app(f"{unique}.flows", cwd=str(tmp_path)) is app
    assert sys.path[0] == str(tmp_path)


@pytest.mark.parametrize(
    ("extra", "target_suffix", "message"),
    [
        ("other = Workflows()", "", "several Workflows apps .*\\(app, other\\)"),
        ("", ":nope", "has no attribute 'nope'"),
        ("", ":square", "square is a TaskSpec, not a Workflows app"),
        ("import no_such_module_xyz", "", "importing .*: No module named 'no_such"),
        ("raise RuntimeError('boom')", "", "importing .* failed: RuntimeError: boom"),
    ],
)
def test_bad_file_targets_fail_registration(
    tmp_path: Path, unique: str, extra: str, target_suffix: str, message: str
) -> None:
    write(tmp_path / f"{unique}.py", extra=extra)
    with pytest.raises(RegistrationFailed, match=message):
        load_app(f"{unique}.py{target_suffix}", cwd=str(tmp_path))
    assert (unique in sys.modules) == ("import" not in message)


def test_duplicate_task_fails_registration(tmp_path: Path, unique: str) -> None:
    path = tmp_path / f"{unique}.py"
    write(path)
    path.write_text(path.read_text() + "\n@app.task(name='square')\ndef again() -> None: ...\n")
    with pytest.raises(RegistrationFailed, match="Task 'square' already registered"):
        load_app(str(path))


def test_no_app_and_missing_targets(tmp_path: Path, unique: str) -> None:
    (tmp_path / f"{unique}.py").write_text("x = 1\n")
    with pytest.raises(RegistrationFailed, match="no Workflows app found"):
        load_app(f"{unique}.py", cwd=str(tmp_path))
    with pytest.raises(RegistrationFailed, match="no such file"):
        load_app("missing.py", cwd=str(tmp_path))
    with pytest.raises(RegistrationFailed, match="no module named 'nosuch_pkg_xyz'"):
        load_app("nosuch_pkg_xyz.flows:app", cwd=str(tmp_path))
