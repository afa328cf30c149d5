"""Packing a code directory into a reproducible tar.gz and naming it by its sha256."""

from __future__ import annotations

import gzip
import hashlib
import io
import os
import tarfile
from pathlib import Path

from baton.errors import RegistrationFailed

#: The largest bundle a server accepts (``BATON_MAX_BUNDLE_MB`` changes it).
MAX_BUNDLE_BYTES = int(os.environ.get("BATON_MAX_BUNDLE_MB", "64")) * 1024 * 1024
#: A deployed version's ``code_dir`` is ``bundle:<sha256 hex>``.
BUNDLE_PREFIX = "bundle:"
#: Never packed: version control, caches, virtual environments, Baton's own state.
EXCLUDED_DIRS = frozenset(
    {
        ".git",
        ".hg",
        ".svn",
        "__pycache__",
        ".venv",
        "venv",
        ".baton",
        ".mypy_cache",
        ".ruff_cache",
        ".pytest_cache",
        "node_modules",
    }
)
EXCLUDED_SUFFIXES = (".pyc", ".pyo")


class BundleError(RegistrationFailed):
    """A code bundle could not be built, stored, unpacked or installed."""


def bundle_digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_bundle_ref(code_dir: str) -> bool:
    return code_dir.startswith(BUNDLE_PREFIX)


def _files(root: Path) -> list[Path]:
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d not in EXCLUDED_DIRS)
        for name in sorted(filenames):
            if not name.endswith(EXCLUDED_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found


def pack_dir(root: str | Path, *, max_bytes: int = MAX_BUNDLE_BYTES) -> bytes:
    """A tar.gz of ``root``'s files; the same files always give the same bytes.

    Owners, times and permissions beyond the executable bit are normalised, so the digest
    depends only on paths and contents. ``BundleError`` past ``max_bytes``.
    """
    base = Path(root).resolve()
    if not base.is_dir():
        raise BundleError(f"not a directory: {base}")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in _files(base):
            if path.is_symlink() or not path.is_file():
                continue  # a bundle holds regular files only
            info = tarfile.TarInfo(path.relative_to(base).as_posix())
            info.size = path.stat().st_size
            info.mode = 0o755 if os.access(path, os.X_OK) else 0o644
            info.mtime = 0
            with open(path, "rb") as f:
                tar.addfile(info, f)
            if raw.tell() > max_bytes * 4:
                break  # far past any compressible limit: stop reading
    data = gzip.compress(raw.getvalue(), compresslevel=6, mtime=0)
    if len(data) > max_bytes:
        raise BundleError(
            f"the bundle of {base} is {len(data) / 1e6:.1f} MB, over the "
            f"{max_bytes / 1e6:.0f} MB limit: leave data files out of the code directory "
            "(or raise BATON_MAX_BUNDLE_MB on the server and here)"
        )
    return data


def unpack(data: bytes, dest: Path) -> None:
    """Extract a bundle into ``dest`` (which must not exist); refuses unsafe members."""
    dest.mkdir(parents=True)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            tar.extractall(dest, filter="data")
    except (tarfile.TarError, OSError, EOFError) as exc:
        raise BundleError(f"cannot unpack the code bundle: {exc}") from exc
