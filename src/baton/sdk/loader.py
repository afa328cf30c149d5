"""Find a ``Workflows`` app from a target string such as ``main.py:app`` or ``pkg.flows``."""

from __future__ import annotations

import importlib
import importlib.util
import os
import sys
from types import ModuleType

from baton.errors import RegistrationFailed
from baton.sdk.app import Workflows

__all__ = ["load_app"]


def load_app(target: str, cwd: str | None = None) -> Workflows:
    """Import the module ``target`` names and return its ``Workflows`` app.

    Args:
        target: ``path/to/file.py:attr``, ``path/to/file.py``, ``package.module:attr`` or
            ``package.module``. Without ``:attr`` the module must hold exactly one
            ``Workflows`` instance.
        cwd: the directory relative paths and modules are found from (default: the current
            one). It, or the file's own directory, goes first on ``sys.path``.

    Raises:
        RegistrationFailed: the module cannot be found or imported (including a task
            registered twice), or no single ``Workflows`` app is found.
    """
    base = os.path.abspath(cwd or os.getcwd())
    where, _, attr = target.partition(":")
    if not where:
        raise RegistrationFailed(
            f"{target!r}: expected 'path/to/file.py[:attr]' or 'module[:attr]'"
        )
    if where.endswith(".py") or "/" in where or os.sep in where:
        module = _import_file(os.path.join(base, where), target)
    else:
        module = _import_module(where, base, target)
    return _find_app(module, attr, target)


def _put_first_on_path(directory: str) -> None:
    if not sys.path or sys.path[0] != directory:
        sys.path.insert(0, directory)


def _import_file(path: str, target: str) -> ModuleType:
    path = os.path.abspath(path)
    if not os.path.isfile(path):
        raise RegistrationFailed(f"{target!r}: no such file {path}")
    _put_first_on_path(os.path.dirname(path))
    name = os.path.splitext(os.path.basename(path))[0]
    loaded = sys.modules.get(name)
    if loaded is not None and _same_file(getattr(loaded, "__file__", None), path):
        return loaded
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise RegistrationFailed(f"{target!r}: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception as exc:
        del sys.modules[name]
        raise _import_failed(target, exc) from exc
    return module


def _import_module(name: str, base: str, target: str) -> ModuleType:
    _put_first_on_path(base)
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (name == exc.name or name.startswith(exc.name + ".")):
            raise RegistrationFailed(f"{target!r}: no module named {exc.name!r} in {base}") from exc
        raise _import_failed(target, exc) from exc
    except Exception as exc:
        raise _import_failed(target, exc) from exc


def _import_failed(target: str, exc: Exception) -> RegistrationFailed:
    return RegistrationFailed(f"importing {target!r} failed: {type(exc).__name__}: {exc}")


def _same_file(a: str | None, b: str) -> bool:
    return a is not None and os.path.abspath(a) == b


def _find_app(module: ModuleType, attr: str, target: str) -> Workflows:
    if attr:
        value: object = module
        for part in attr.split("."):
            if not hasattr(value, part):
                raise RegistrationFailed(f"{target!r}: {module.__name__} has no attribute {attr!r}")
            value = getattr(value, part)
        if not isinstance(value, Workflows):
            raise RegistrationFailed(
                f"{target!r}: {attr} is a {type(value).__name__}, not a Workflows app"
            )
        return value
    found: dict[int, tuple[str, Workflows]] = {}
    for key, value in vars(module).items():
        if isinstance(value, Workflows):
            found.setdefault(id(value), (key, value))
    if len(found) == 1:
        return next(iter(found.values()))[1]
    if not found:
        raise RegistrationFailed(f"{target!r}: no Workflows app found in {module.__name__}")
    names = ", ".join(sorted(key for key, _ in found.values()))
    raise RegistrationFailed(
        f"{target!r}: several Workflows apps in {module.__name__} ({names}); name one as "
        f"{target}:<attr>"
    )
