"""Warm starts for Render SDK start commands of the form ``render-workflows module:attr``.

Such a command runs the SDK's console script, which imports ``module`` and calls
``attr.start()``. Baton runs the same thing from a zygote: ``zygote.py`` is started with the
Python interpreter that the ``render-workflows`` script belongs to (read from its ``#!`` line),
imports the SDK's entry point and the user's module once, and forks one child per attempt that
calls the entry point. The user's code and the SDK are unmodified; only the import is shared.

Any other command (``python main.py``, a shell wrapper, a script whose interpreter cannot be
read) is started cold: fork + exec of the command for every attempt.
"""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass
from pathlib import Path

SCRIPT = "render-workflows"
ZYGOTE_PATH = str(Path(__file__).with_name("zygote.py"))
# Run zygote.py by path in an interpreter where Baton is not installed. ``-c`` keeps the
# code directory (the working directory) first on sys.path, as render-workflows does, and does
# not put Baton's executor directory there.
BOOT = (
    "import runpy, sys; path = sys.argv[1]; sys.argv = sys.argv[1:]; "
    "runpy.run_path(path, run_name='__main__')"
)
_SHEBANG_MAX = 512


@dataclass(frozen=True)
class RenderEntry:
    """A start command that can be served from a warm zygote."""

    python: str  # the interpreter of the render-workflows script
    entry: str  # module:attr

    def zygote_argv(self, code_dir: str) -> list[str]:
        return [
            self.python,
            "-c",
            BOOT,
            ZYGOTE_PATH,
            "--render-entry",
            self.entry,
            "--cwd",
            code_dir,
        ]


def render_entry(argv: tuple[str, ...] | list[str], code_dir: str) -> RenderEntry | None:
    """The warm-start plan for ``argv``, or ``None`` if it must be started cold."""
    if len(argv) != 2 or os.path.basename(argv[0]) != SCRIPT:
        return None
    module, sep, attr = argv[1].rpartition(":")
    if not sep or not module or not attr:
        return None
    script = _resolve(argv[0], code_dir)
    python = _interpreter(script) if script else None
    if python is None:
        return None
    return RenderEntry(python=python, entry=argv[1])


def _resolve(command: str, code_dir: str) -> str | None:
    if os.sep in command:
        path = os.path.join(code_dir, command)
        return path if os.access(path, os.X_OK) else None
    return shutil.which(command)


def _interpreter(script: str) -> str | None:
    """The Python interpreter named by ``script``'s ``#!`` line (``env python3`` included)."""
    try:
        with open(script, "rb") as f:
            first = f.readline(_SHEBANG_MAX)
    except OSError:
        return None
    if not first.startswith(b"#!"):
        return None
    try:
        parts = shlex.split(first[2:].decode().strip())
    except (UnicodeDecodeError, ValueError):
        return None
    if len(parts) == 2 and os.path.basename(parts[0]) == "env":
        found = shutil.which(parts[1])
        parts = [found] if found else []
    if len(parts) != 1 or not os.path.basename(parts[0]).startswith("python"):
        return None  # e.g. pip's /bin/sh trampoline for very long paths: start it cold
    python = parts[0]
    return python if os.path.isabs(python) and os.access(python, os.X_OK) else None
