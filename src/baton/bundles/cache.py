"""A per-host cache of unpacked bundles, each with its own virtual environment if needed.

Layout under the cache root: ``<digest>/code`` (the unpacked bundle), ``<digest>/venv`` (only
when the bundle has a ``requirements.txt``), ``<digest>/ready`` (written last). A file lock
per digest lets several workers on one host share the cache; a half-built entry (no
``ready``) is thrown away and built again.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import os
import shutil
import site
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import baton
from baton.bundles.pack import BUNDLE_PREFIX, BundleError, bundle_digest, is_bundle_ref, unpack

#: How long ``pip install -r requirements.txt`` may take for one version.
PIP_TIMEOUT_S = float(os.environ.get("BATON_PIP_TIMEOUT_S", "600"))
REQUIREMENTS = "requirements.txt"


def default_cache_dir() -> Path:
    env = os.environ.get("BATON_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "baton" / "bundles"


@dataclass(frozen=True)
class Code:
    """Where a version's code lives on this host and which Python runs it (None: ours)."""

    code_dir: str
    python: str | None = None


class CodeCache:
    """Resolves a version's ``code_dir`` to a local directory, fetching bundles on demand."""

    def __init__(self, root: Path | None = None, *, pip_timeout_s: float = PIP_TIMEOUT_S) -> None:
        self.root = (root or default_cache_dir()).resolve()
        self.pip_timeout_s = pip_timeout_s
        self._locks: dict[str, asyncio.Lock] = {}
        self._known: dict[str, Code] = {}

    async def resolve(self, code_dir: str, fetch: Callable[[str], Awaitable[bytes]]) -> Code:
        """The local code of ``code_dir``: a plain path as is, a bundle fetched and prepared."""
        if not is_bundle_ref(code_dir):
            return Code(code_dir)
        digest = code_dir.removeprefix(BUNDLE_PREFIX)
        if not digest.isalnum() or len(digest) != 64:
            raise BundleError(f"malformed bundle reference {code_dir!r}")
        known = self._known.get(digest)
        if known is not None:
            return known
        async with self._locks.setdefault(digest, asyncio.Lock()):
            known = self._known.get(digest)
            if known is None:
                known = self._known[digest] = await self._prepare(digest, fetch)
        return known

    async def _prepare(self, digest: str, fetch: Callable[[str], Awaitable[bytes]]) -> Code:
        entry = self.root / digest
        ready = self._read_ready(entry)
        if ready is not None:
            return ready
        data = await fetch(digest)
        if bundle_digest(data) != digest:
            raise BundleError(f"bundle {digest[:12]} arrived corrupted (its hash differs)")
        return await asyncio.to_thread(self._build, entry, data)

    @staticmethod
    def _read_ready(entry: Path) -> Code | None:
        try:
            info = json.loads((entry / "ready").read_text())
        except (OSError, ValueError):
            return None
        return Code(str(entry / "code"), info.get("python"))

    def _build(self, entry: Path, data: bytes) -> Code:
        self.root.mkdir(parents=True, exist_ok=True)
        with _file_lock(self.root / f"{entry.name}.lock"):
            ready = self._read_ready(entry)
            if ready is not None:
                return ready  # another worker on this host built it meanwhile
            shutil.rmtree(entry, ignore_errors=True)
            try:
                unpack(data, entry / "code")
                python = None
                if (entry / "code" / REQUIREMENTS).is_file():
                    python = self._install(entry)
                (entry / "ready").write_text(json.dumps({"python": python}))
            except BaseException:
                shutil.rmtree(entry, ignore_errors=True)
                raise
        return Code(str(entry / "code"), python)

    def _install(self, entry: Path) -> str:
        venv = entry / "venv"
        _run([sys.executable, "-m", "venv", str(venv)], "creating a virtual environment", 120)
        python = venv / "bin" / "python"
        purelib = subprocess.run(
            [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout.strip()
        # The attempt processes import baton and its dependencies from this host's install;
        # .pth entries come after the venv's own site-packages, so the bundle's pins win.
        host_paths = [str(Path(baton.__file__).resolve().parent.parent), *site.getsitepackages()]
        Path(purelib, "_baton_host.pth").write_text("\n".join(host_paths) + "\n")
        _run(
            [
                str(python),
                "-m",
                "pip",
                "install",
                "--disable-pip-version-check",
                "--no-input",
                "--timeout",
                "30",
                "-r",
                REQUIREMENTS,
            ],
            "installing requirements.txt",
            self.pip_timeout_s,
            cwd=entry / "code",
        )
        return str(python)


def _run(argv: list[str], what: str, timeout_s: float, cwd: Path | None = None) -> None:
    try:
        done = subprocess.run(
            argv, cwd=cwd, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    except subprocess.TimeoutExpired as exc:
        raise BundleError(f"{what} took longer than {timeout_s:.0f} s and was stopped") from exc
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-20:])
        raise BundleError(f"{what} failed (exit status {done.returncode}):\n{tail}")


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    with open(path, "a") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)
