"""CPU limits for attempt processes through Linux control groups, where they are writable.

Each attempt whose plan has fewer CPUs than the machine gets its own cgroup with a CFS quota of
``plan CPUs x period`` (cgroup v2 ``cpu.max``; cgroup v1 ``cpu.cfs_quota_us``). The forked
process moves itself into it before any user code runs, so everything it starts is limited
too. Without a writable hierarchy with the ``cpu`` controller, attempts run without a CPU limit
(``docs/limits.md``). The move itself is in ``zygote.py``, which must stay standard-library only.
"""

from __future__ import annotations

import contextlib
import logging
import os
from pathlib import Path

log = logging.getLogger("baton.executor")

PERIOD_US = 100_000
_V2_ROOT = Path("/sys/fs/cgroup")
_V1_ROOT = Path("/sys/fs/cgroup/cpu")


class CpuLimits:
    """Hands out one cgroup per limited attempt under ``parent`` and takes it back after.

    Creating a cgroup costs several writes to the cgroup file system, so an emptied cgroup is
    kept and handed to the next attempt with the same quota.

    Args:
        parent: the directory Baton owns in the hierarchy (``detect`` creates it).
        version: 2 (``cpu.max``) or 1 (``cpu.cfs_quota_us``).
    """

    def __init__(self, parent: Path, version: int) -> None:
        self.parent = parent
        self.version = version
        self._free: dict[int, list[str]] = {}  # quota -> empty cgroups with that quota
        self._next = 0
        self._closed = False

    @classmethod
    def detect(cls, name: str = "baton") -> CpuLimits | None:
        """A limiter on the first writable hierarchy with the ``cpu`` controller, or None.

        ``BATON_CPU_LIMITS=off`` turns limits off.
        """
        if os.environ.get("BATON_CPU_LIMITS", "").lower() in ("0", "off", "false", "no"):
            return None
        leaf = f"{name}-{os.getpid()}"
        v2 = _V2_ROOT / "cgroup.controllers"
        if v2.exists() and "cpu" in v2.read_text().split():
            limits = cls._make(_V2_ROOT, leaf, 2)
            if limits is not None:
                return limits
        if (_V1_ROOT / "cpu.cfs_quota_us").exists():
            return cls._make(_V1_ROOT, leaf, 1)
        return None

    @classmethod
    def _make(cls, root: Path, leaf: str, version: int) -> CpuLimits | None:
        _remove_stale(root, leaf.rpartition("-")[0])
        parent = root / leaf
        try:
            parent.mkdir(exist_ok=True)
            if version == 2:  # children of parent may use the cpu controller
                (parent / "cgroup.subtree_control").write_text("+cpu")
        except OSError as exc:
            log.info("no CPU limits: cannot use %s (%s)", parent, exc)
            with contextlib.suppress(OSError):
                parent.rmdir()
            return None
        return cls(parent, version)

    def acquire(self, cpus: float) -> str | None:
        """An empty cgroup limited to ``cpus`` for one attempt; its path, or None on failure."""
        quota = max(1000, int(cpus * PERIOD_US))
        free = self._free.get(quota)
        if free:
            return free.pop()
        self._next += 1
        path = self.parent / f"a{self._next}"
        try:
            path.mkdir(exist_ok=True)
            if self.version == 2:
                (path / "cpu.max").write_text(f"{quota} {PERIOD_US}")
            else:
                (path / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (path / "cpu.cfs_quota_us").write_text(str(quota))
        except OSError as exc:
            log.warning("an attempt runs without a CPU limit: %s", exc)
            with contextlib.suppress(OSError):
                path.rmdir()
            return None
        return str(path)

    def release(self, path: str, cpus: float) -> None:
        """Take back an attempt's cgroup once its process has exited."""
        try:
            empty = not Path(path, "cgroup.procs").read_text().strip()
        except OSError:
            return
        if empty and not self._closed:
            self._free.setdefault(max(1000, int(cpus * PERIOD_US)), []).append(path)
            return
        with contextlib.suppress(OSError):  # a stray process keeps it; the kernel frees it later
            os.rmdir(path)
        if self._closed:
            self.close()

    def close(self) -> None:
        """Remove the empty cgroups and, once the last attempt's is gone, the parent."""
        self._closed = True
        for paths in self._free.values():
            for path in paths:
                with contextlib.suppress(OSError):
                    os.rmdir(path)
        self._free.clear()
        with contextlib.suppress(OSError):
            self.parent.rmdir()


def _remove_stale(root: Path, name: str) -> None:
    """Remove what engines that died without cleaning up left under ``root`` (best effort)."""
    with contextlib.suppress(OSError):
        for parent in root.glob(f"{name}-*"):
            pid = parent.name.rpartition("-")[2]
            if not pid.isdigit() or Path("/proc", pid).exists():
                continue
            for child in parent.iterdir():
                if child.is_dir():
                    with contextlib.suppress(OSError):
                        child.rmdir()
            with contextlib.suppress(OSError):
                parent.rmdir()
