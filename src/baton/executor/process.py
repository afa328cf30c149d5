"""``LocalProcessExecutor``: every attempt in a fresh OS process on this machine.

Baton workflows are forked from a warm zygote that has imported the workflow's code (one per
workflow version). A ``render-workflows module:attr`` start command gets the same, in the SDK's
own interpreter (``render_zygote.py``); any other start command is forked and ``exec``-ed from a
plain zygote. Either way
the zygote is the parent, so it reaps the process and reports its peak memory and CPU time.

Limits: each attempt runs in its own process group, which timeouts and cancellation kill with
SIGKILL. Memory: ``RLIMIT_DATA`` at the plan's size (an allocation past it raises
``MemoryError``) plus a watchdog that kills a process whose resident memory passes the plan.
CPU: a cgroup with the plan's CFS quota per attempt where a writable hierarchy with the ``cpu``
controller exists (``cgroups.py``, docs/limits.md); without one, CPU is not limited.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import signal
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from baton.executor.cgroups import CpuLimits
from baton.executor.render_zygote import RenderEntry, render_entry

log = logging.getLogger("baton.executor")

WATCHDOG_INTERVAL_S = 0.05
_PAGE = os.sysconf("SC_PAGE_SIZE")
#: Environment variables that never reach a zygote or an attempt process.
SECRET_ENV_PREFIXES = ("BATON_",)
SECRET_ENV_NAMES = frozenset({"RENDER_API_KEY", "DATABASE_URL", "PGPASSWORD"})


@dataclass(frozen=True)
class RunRequest:
    """One attempt to start. JSON-serializable; nothing is pickled."""

    run_id: str
    attempt: int
    version_id: str
    kind: str  # "baton": fork from the version's zygote; "command": fork + exec
    target: str  # module:attr or path.py:attr for "baton"; the command line for "command"
    code_dir: str
    socket_path: str
    stdout_path: str
    stderr_path: str
    memory_bytes: int = 0
    timeout_s: float = 7200.0
    mode: str = "run"
    env: dict[str, str] = field(default_factory=dict)
    argv: tuple[str, ...] = ()
    python: str | None = None  # the interpreter of the version's virtual environment, if any
    cpus: float = 0.0  # the plan's CPUs: a cgroup CPU limit where the kernel allows; 0: none

    @property
    def key(self) -> str:
        return f"{self.run_id}:{self.attempt}:{self.mode}"


@dataclass(frozen=True)
class RunResult:
    """How an attempt process ended. A crash is a result, never an exception."""

    pid: int | None
    reason: str  # exited | timeout | oom | canceled | spawn_failed
    exit_code: int | None = None
    signal: int | None = None
    peak_rss_kb: int | None = None
    cpu_s: float | None = None
    forked_at: float | None = None
    error: str | None = None


def scrubbed_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment without Baton's secrets, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(SECRET_ENV_PREFIXES) and k not in SECRET_ENV_NAMES
    }
    env.update(extra or {})
    return env


class _Zygote:
    def __init__(self, proc: asyncio.subprocess.Process, label: str, *, execs: bool) -> None:
        self.proc = proc
        self.label = label
        self.execs = execs  # fork + exec the start command (a cold start)
        self.started: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.exited: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self.ready: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self.reader = asyncio.create_task(self._read(), name=f"zygote-reader-{label}")

    @property
    def alive(self) -> bool:
        return self.proc.returncode is None and not self.reader.done()

    async def _read(self) -> None:
        assert self.proc.stdout is not None
        try:
            while line := await self.proc.stdout.readline():
                self._on_message(json.loads(line))
        finally:
            await self.proc.wait()
            error = RuntimeError(f"zygote {self.label} exited ({self.proc.returncode})")
            for fut in [self.ready, *self.started.values(), *self.exited.values()]:
                if not fut.done():
                    fut.set_exception(error)
                    fut.exception()  # mark retrieved: nobody may be waiting any more

    def _on_message(self, msg: dict[str, Any]) -> None:
        kind = msg.get("type")
        if kind in ("ready", "failed") and not self.ready.done():
            self.ready.set_result(msg)
        elif kind == "started":
            fut = self.started.pop(msg["key"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg)
        elif kind == "exited":
            fut = self.exited.pop(msg["key"], None)
            if fut is not None and not fut.done():
                fut.set_result(msg)

    async def fork(self, message: dict[str, Any]) -> tuple[dict[str, Any], asyncio.Future[Any]]:
        loop = asyncio.get_running_loop()
        started, exited = loop.create_future(), loop.create_future()
        self.started[message["key"]] = started
        self.exited[message["key"]] = exited
        assert self.proc.stdin is not None
        self.proc.stdin.write((json.dumps(message) + "\n").encode())
        return await started, exited

    async def stop(self) -> None:
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 2)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()
        self.reader.cancel()


class LocalProcessExecutor:
    """Runs attempts as processes on this machine."""

    def __init__(self, *, python: str = sys.executable, cpu_limits: bool = True) -> None:
        self.python = python
        self._cpu_limits = cpu_limits
        self._limits: CpuLimits | None = None
        self._zygotes: dict[str, _Zygote] = {}
        self._zygote_locks: dict[str, asyncio.Lock] = {}
        self._no_warm: set[str] = set()  # versions whose warm render zygote failed to start
        self._live: dict[str, tuple[int, int]] = {}  # run_id -> (pid, memory limit)
        self._forked_at: dict[str, float] = {}
        self._reasons: dict[str, str] = {}
        self._watchdog: asyncio.Task[None] | None = None

    def _warm_entry(self, req: RunRequest) -> RenderEntry | None:
        if req.kind != "command" or req.version_id in self._no_warm:
            return None
        return render_entry(req.argv, req.code_dir)

    async def _zygote(self, req: RunRequest) -> _Zygote:
        entry = self._warm_entry(req)
        if entry is not None:
            try:
                return await self._start_zygote(
                    f"render:{req.version_id}", entry.zygote_argv(req.code_dir), req, execs=False
                )
            except RuntimeError as exc:
                # Start it cold from now on: the command itself then shows the user what fails.
                log.warning("no warm start for %s: %s", req.target, exc)
                self._no_warm.add(req.version_id)
        args = [req.python or self.python, "-m", "baton.executor.zygote", "--cwd", req.code_dir]
        if req.kind == "baton":
            return await self._start_zygote(
                req.version_id, [*args, "--target", req.target], req, execs=False
            )
        return await self._start_zygote(f"cold:{req.code_dir}", args, req, execs=True)

    async def _start_zygote(
        self, label: str, args: list[str], req: RunRequest, *, execs: bool
    ) -> _Zygote:
        lock = self._zygote_locks.setdefault(label, asyncio.Lock())
        async with lock:
            zygote = self._zygotes.get(label)
            if zygote is not None and zygote.alive:
                return zygote
            proc = await asyncio.create_subprocess_exec(
                *args,
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                env=scrubbed_env({"PYTHONUNBUFFERED": "1"}),
                cwd=req.code_dir,
                start_new_session=True,
            )
            zygote = _Zygote(proc, label, execs=execs)
            try:
                first = await zygote.ready
            except RuntimeError as exc:
                first = {"type": "failed", "message": str(exc)}
            if first.get("type") != "ready":
                await zygote.stop()
                raise RuntimeError(first.get("message") or "the zygote failed to start")
            self._zygotes[label] = zygote
            return zygote

    def _cgroup_for(self, req: RunRequest) -> str | None:
        if not self._cpu_limits or not 0 < req.cpus < (os.cpu_count() or 1):
            return None  # no plan, or the plan has at least the whole machine
        if self._limits is None:
            self._limits = CpuLimits.detect()
            if self._limits is None:
                self._cpu_limits = False  # not on this machine: do not look again
                return None
        return self._limits.acquire(req.cpus)

    async def start(self, req: RunRequest, on_spawn: Callable[[int], None]) -> RunResult:
        """Run one attempt to its end: exit, timeout, out-of-memory kill or cancel."""
        cgroup = self._cgroup_for(req)
        try:
            return await self._start(req, on_spawn, cgroup)
        finally:
            if cgroup is not None and self._limits is not None:
                self._limits.release(cgroup, req.cpus)

    async def _start(
        self, req: RunRequest, on_spawn: Callable[[int], None], cgroup: str | None
    ) -> RunResult:
        try:
            zygote = await self._zygote(req)
            message = {
                "type": "fork",
                "version": 1,
                "key": req.key,
                "socket_path": req.socket_path,
                "mode": req.mode,
                "stdout": req.stdout_path,
                "stderr": req.stderr_path,
                "memory_bytes": req.memory_bytes,
                "cwd": req.code_dir,
                "exec": (list(req.argv) or None) if zygote.execs else None,
                "cgroup": cgroup,
                "env": {
                    **req.env,
                    "RENDER_SDK_MODE": req.mode,
                    "RENDER_SDK_SOCKET_PATH": req.socket_path,
                },
            }
            started, exited = await zygote.fork(message)
        except Exception as exc:
            return RunResult(pid=None, reason="spawn_failed", error=str(exc))
        pid: int = started["pid"]
        self._live[req.run_id] = (pid, req.memory_bytes)
        if started.get("forked_at"):
            self._forked_at[req.run_id] = float(started["forked_at"])
        self._ensure_watchdog()
        try:
            on_spawn(pid)
            # asyncio.timeout, not wait_for: no extra task per attempt (this is the hot path)
            try:
                async with asyncio.timeout(req.timeout_s):
                    info = await asyncio.shield(exited)
            except TimeoutError:
                self.kill(req.run_id, "timeout")
                info = await exited
        except Exception as exc:  # the zygote died under this attempt
            _killpg(pid)
            return RunResult(pid=pid, reason="spawn_failed", error=str(exc))
        finally:
            self._live.pop(req.run_id, None)
            self._forked_at.pop(req.run_id, None)
        return RunResult(
            pid=pid,
            reason=self._reasons.pop(req.run_id, "exited"),
            exit_code=info.get("exit_code"),
            signal=info.get("signal"),
            peak_rss_kb=info.get("peak_rss_kb"),
            cpu_s=info.get("cpu_s"),
            forked_at=started.get("forked_at"),
        )

    def kill(self, run_id: str, reason: str = "canceled") -> bool:
        """Kill the process group of ``run_id``'s live attempt; the first reason sticks."""
        live = self._live.get(run_id)
        if live is None:
            return False
        self._reasons.setdefault(run_id, reason)
        _killpg(live[0])
        return True

    def forked_at(self, run_id: str) -> float | None:
        """When ``run_id``'s live attempt process was forked (epoch seconds)."""
        return self._forked_at.get(run_id)

    def pid_of(self, run_id: str) -> int | None:
        live = self._live.get(run_id)
        return live[0] if live else None

    def _ensure_watchdog(self) -> None:
        if self._watchdog is None or self._watchdog.done():
            self._watchdog = asyncio.create_task(self._watch_memory(), name="memory-watchdog")

    async def _watch_memory(self) -> None:
        while self._live:
            for run_id, (pid, limit) in list(self._live.items()):
                if limit and _rss_bytes(pid) > limit:
                    log.info("run %s passed its memory limit (%d bytes): killed", run_id, limit)
                    self.kill(run_id, "oom")
            await asyncio.sleep(WATCHDOG_INTERVAL_S)

    async def close(self) -> None:
        for run_id in list(self._live):
            self.kill(run_id, "canceled")
        for zygote in self._zygotes.values():
            await zygote.stop()
        self._zygotes.clear()
        if self._limits is not None:
            self._limits.close()
        if self._watchdog is not None:
            self._watchdog.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watchdog


def _killpg(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _rss_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as f:
            return int(f.read().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return 0
