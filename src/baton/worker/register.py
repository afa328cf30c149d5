"""Registering a workflow version: run its code in register mode, store what it publishes."""

from __future__ import annotations

import shlex
from pathlib import Path

from baton.bundles.cache import Code, CodeCache
from baton.bundles.store import read_bundle
from baton.core.models import TaskDef, WorkflowVersion
from baton.errors import RegistrationFailed
from baton.executor.process import LocalProcessExecutor, RunRequest
from baton.executor.protocol import AttemptServer, Request
from baton.services import Services
from baton.worker.attempt import LogTail, task_defs

REGISTER_TIMEOUT_S = 120.0


def request_for(
    version: WorkflowVersion,
    code: Code,
    *,
    run_id: str,
    attempt: int,
    base: Path,
    memory_bytes: int,
    timeout_s: float,
    mode: str,
    cpus: float = 0.0,
) -> RunRequest:
    """The executor request for one attempt (or registration) of ``version``."""
    return RunRequest(
        run_id=run_id,
        attempt=attempt,
        version_id=version.id,
        kind=version.kind,
        target=version.target,
        code_dir=code.code_dir,
        socket_path=f"{base}.sock",
        stdout_path=f"{base}.out",
        stderr_path=f"{base}.err",
        memory_bytes=memory_bytes,
        timeout_s=timeout_s,
        mode=mode,
        argv=tuple(shlex.split(version.target)) if version.kind == "command" else (),
        python=code.python,
        cpus=cpus,
    )


class Registrar:
    """Registers versions on this host (the server's side of ``baton deploy`` and ``--app``)."""

    def __init__(
        self,
        services: Services,
        executor: LocalProcessExecutor,
        cache: CodeCache,
        workdir: Path,
    ) -> None:
        self.services = services
        self.executor = executor
        self.cache = cache
        self.workdir = workdir

    async def _fetch(self, digest: str) -> bytes:
        return read_bundle(self.services.store, digest)

    async def register(self, version: WorkflowVersion) -> list[TaskDef]:
        """Run the version's code in register mode and store the tasks it publishes."""
        try:
            code = await self.cache.resolve(version.code_dir, self._fetch)
        except RegistrationFailed as exc:
            self.services.store.fail_version(version.id, exc.message)
            raise
        req = request_for(
            version,
            code,
            run_id=f"register-{version.id}",
            attempt=0,
            base=self.workdir / f"register-{version.id}",
            memory_bytes=0,
            timeout_s=REGISTER_TIMEOUT_S,
            mode="register",
        )
        received: list[TaskDef] = []

        async def register_tasks(request: Request) -> dict[str, object]:
            defs = task_defs(request)
            self.services.register_version(version.id, defs)
            received.extend(defs)
            return {}

        server = AttemptServer(req.socket_path, {("POST", "/register-tasks"): register_tasks})
        tail = LogTail({"stdout": req.stdout_path, "stderr": req.stderr_path})
        await server.start()
        try:
            result = await self.executor.start(req, lambda pid: None)
        finally:
            await server.close()
        output = "\n".join(line for _, line in tail.read(final=True))
        tail.remove()
        if not received:
            why = result.error or (
                f"exited with status {result.exit_code}"
                if result.reason == "exited"
                else result.reason
            )
            message = f"registering {version.workflow} failed: the code {why}\n{output}".strip()
            self.services.store.fail_version(version.id, message)
            raise RegistrationFailed(message)
        return received
