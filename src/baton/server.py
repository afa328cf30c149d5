"""One Baton process: store, services, an embedded worker and the HTTP API."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import shlex
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import uvicorn

from baton.api.app import create_app
from baton.bundles.cache import CodeCache
from baton.core.models import TaskDef, WorkflowVersion
from baton.errors import BatonError, RegistrationFailed
from baton.executor.process import LocalProcessExecutor
from baton.scheduler.cron import CronScheduler
from baton.services import EngineConfig, Services
from baton.store import Store, open_store
from baton.tracing import AttemptTracer, start_tracing
from baton.worker.agent import LocalWorker
from baton.worker.reaper import reap_leases
from baton.worker.register import Registrar

log = logging.getLogger("baton")


@dataclass(frozen=True)
class Target:
    """Workflow code to register: a Baton app (``file.py[:attr]`` or ``module[:attr]``) or a
    start command run in ``code_dir``."""

    kind: str  # "baton" | "command"
    target: str
    code_dir: str

    @classmethod
    def app(cls, spec: str, cwd: str | None = None) -> Target:
        base = Path(cwd or os.getcwd()).resolve()
        path_part, _, attr = spec.partition(":")
        if path_part.endswith(".py") or os.sep in path_part:
            path = (base / path_part).resolve()
            if not path.exists():
                raise RegistrationFailed(f"no such file: {path}")
            code_dir = path.parent if path.is_file() else path
            target = path.name + (f":{attr}" if attr else "")
            return cls("baton", target, str(code_dir))
        return cls("baton", spec, str(base))

    @classmethod
    def command(cls, command: str, code_dir: str) -> Target:
        if not shlex.split(command):
            raise RegistrationFailed("the start command is empty")
        return cls("command", command, str(Path(code_dir).resolve()))

    def default_slug(self) -> str:
        if self.kind == "baton" and self.target.split(":")[0].endswith(".py"):
            stem = Path(self.target.split(":")[0]).stem
            name = stem if stem not in ("main", "app", "__init__") else Path(self.code_dir).name
        else:
            name = Path(self.code_dir).name
        return slugify(name)


def slugify(name: str) -> str:
    out = "".join(c if c.isalnum() else "-" for c in name.lower()).strip("-")
    while "--" in out:
        out = out.replace("--", "-")
    return out or "workflow"


class Engine:
    """Store + services + embedded worker, the unit ``baton dev`` and tests run.

    With ``worker=False`` (``baton serve --no-worker``) no attempt runs in this process:
    remote workers (``baton worker``) do the work; the engine still runs the lease reaper and
    registers code in subprocesses of its own.
    """

    def __init__(
        self,
        store: Store | str,
        *,
        config: EngineConfig | None = None,
        worker: bool = True,
        scheduler: bool = True,
        otel: bool = False,
    ) -> None:
        self.store = open_store(store) if isinstance(store, str) else store
        self.services = Services(self.store, config)
        self.worker = LocalWorker(self.services) if worker else None
        self.registrar = (
            self.worker.registrar
            if self.worker is not None
            else Registrar(
                self.services,
                LocalProcessExecutor(),
                CodeCache(),
                Path(tempfile.mkdtemp(prefix="baton-")),
            )
        )
        self._worker_task: asyncio.Task[None] | None = None
        # the cron loop (docs/durable.md); every server may run one, each tick fires once
        self.scheduler = CronScheduler(self.services) if scheduler else None
        self._scheduler_task: asyncio.Task[None] | None = None
        # OpenTelemetry spans per attempt (docs/dashboard.md, "Traces"); None when off
        self.tracing: AttemptTracer | None = None
        if otel:
            try:
                self.tracing = start_tracing(self.services)
            except BatonError:
                self.store.close()
                raise

    async def register(self, target: Target, slug: str | None = None) -> list[TaskDef]:
        """Register ``target`` as a new version of workflow ``slug``; returns its tasks."""
        version: WorkflowVersion = self.store.add_version(
            slug or target.default_slug(), target.target, target.kind, target.code_dir
        )
        return await self.registrar.register(version)

    async def start(self) -> None:
        self.services.start_watching()
        if self._worker_task is None:
            work = self.worker.run() if self.worker is not None else reap_leases(self.services)
            self._worker_task = asyncio.create_task(work, name="worker")
        if self.scheduler is not None and self._scheduler_task is None:
            self._scheduler_task = asyncio.create_task(self.scheduler.run(), name="scheduler")

    async def stop(self) -> None:
        if self._scheduler_task is not None and self.scheduler is not None:
            self.scheduler.stop()
            self._scheduler_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._scheduler_task
            self._scheduler_task = None
        if self.worker is not None:
            await self.worker.stop()
        else:
            await self.registrar.executor.close()
        if self._worker_task is not None:
            self._worker_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._worker_task
            self._worker_task = None
        await self.services.stop_watching()
        self.services.close()
        if self.tracing is not None:
            await self.tracing.aclose()
        self.store.close()

    async def __aenter__(self) -> Engine:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    def asgi(self, *, require_token: bool) -> Any:
        return create_app(self.services, require_token=require_token, registrar=self.registrar)


async def serve_http(engine: Engine, host: str, port: int, *, require_token: bool) -> None:
    """Serve the API on ``host:port`` until interrupted."""
    config = uvicorn.Config(
        engine.asgi(require_token=require_token),
        host=host,
        port=port,
        log_level="warning",
        lifespan="off",
        timeout_graceful_shutdown=1,
    )
    server = _Server(config)
    await server.serve()


class _Server(uvicorn.Server):
    """uvicorn re-raises SIGINT/SIGTERM once it has stopped serving, which would kill the
    process before the engine shuts down (attempts, zygotes, cgroups, the store). Here the
    signal only ends serving; the engine's own shutdown then runs and the command returns."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        with super().capture_signals():
            yield
            self._captured_signals.clear()
