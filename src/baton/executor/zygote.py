"""The warm fork server: imports a workflow's code once, then forks one process per attempt.

Run as ``python -m baton.executor.zygote [--target module:attr] [--cwd DIR]``, or for a Render
SDK start command ``render-workflows module:attr`` as ``<the SDK's python> -c BOOT zygote.py
--render-entry module:attr --cwd DIR`` (see ``render_zygote.py``): then this file runs in the
user's interpreter, where Baton is not installed, so everything outside the ``target`` branch
uses the standard library only. It speaks JSON
lines: requests on stdin, replies on the original stdout (which it keeps on a private fd, so
that user code printing at import time cannot corrupt the channel). It is single-threaded and
forks only from its main loop, so no lock is ever held across a fork. It reaps its children
with ``wait4`` and reports each exit with its peak memory and CPU time.

Requests: ``{"type": "fork", "version": 1, "key", "socket_path", "mode": "run"|"register",
"stdout", "stderr", "env", "memory_bytes", "exec": [argv] | null, "cwd"}``.
Replies: ``{"type": "ready"}``, ``{"type": "started", "key", "pid", "forked_at"}``,
``{"type": "exited", "key", "pid", "exit_code", "signal", "peak_rss_kb", "cpu_s"}``,
``{"type": "failed", "message"}`` (the code could not be loaded; the zygote then exits).
"""

from __future__ import annotations

import atexit
import contextlib
import gc
import importlib
import io
import json
import os
import random  # noqa: F401  (imported for its at-fork hook: a freshly seeded random per child)
import resource
import select
import signal
import sys
import time
import traceback
from collections.abc import Callable
from typing import Any

PROTOCOL_VERSION = 1

#: Runs one attempt (or a registration) inside a forked child; returns the exit status.
Runner = Callable[[dict[str, Any]], int]

try:
    from _signal import signal as _set_signal  # type: ignore[import-not-found]
except ImportError:  # pragma: no cover  (not CPython)
    _set_signal = signal.signal
_SIG_DFL = int(signal.SIG_DFL)  # a plain int: the C function takes no enum

# The zygote's replies are formatted by hand, and it reads only the key of a request (its
# child decodes the rest): after each fork every page the zygote writes is copied, and the
# json module's Python layers alone touch about a hundred pages per call.
_FORK_PREFIX = b'{"type": "fork", "version": 1, "key": "'
_VERSION = f'{{"version": {PROTOCOL_VERSION}, '
_STARTED = _VERSION + '"type": "started", "key": %s, "pid": %d, "forked_at": %r}\n'
_EXITED = (
    _VERSION + '"type": "exited", "key": %s, "pid": %d, "exit_code": %d, "signal": %s, '
    '"peak_rss_kb": %d, "cpu_s": %r}\n'
)


class _Channel:
    def __init__(self) -> None:
        self.out_fd = os.dup(1)
        os.dup2(2, 1)  # whatever user code prints while importing goes to stderr

    def send(self, message: dict[str, Any]) -> None:
        self.write(json.dumps({"version": PROTOCOL_VERSION, **message}) + "\n")

    def write(self, text: str) -> None:
        data = text.encode()
        while data:
            data = data[os.write(self.out_fd, data) :]


def _child(line: bytes, channel: _Channel, runner: Runner) -> None:
    """Runs in the forked process; never returns.

    Every page of the zygote's memory this writes is copied for this process (reference
    counts are writes), so it sticks to cheap calls: the C-level ``signal`` (the module-level
    wrapper converts handlers to enums and raises inside), raw ``os`` file descriptors.
    ``random`` needs no call: its own at-fork hook reseeds it in every child.
    """
    code = 1
    try:
        req = json.loads(line)  # here, not in the zygote: a child touches json anyway
        signal.set_wakeup_fd(-1)
        for sig in (signal.SIGCHLD, signal.SIGINT, signal.SIGTERM, signal.SIGPIPE):
            _set_signal(sig, _SIG_DFL)
        os.setpgid(0, 0)
        os.close(channel.out_fd)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        out = os.open(req["stdout"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        err = os.open(req["stderr"], os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        os.dup2(out, 1)
        os.dup2(err, 2)
        for fd in (null, out, err):
            os.close(fd)
        cgroup = req.get("cgroup")
        if cgroup:  # the plan's CPU limit (executor/cgroups.py), before any user code runs
            procs = os.open(os.path.join(cgroup, "cgroup.procs"), os.O_WRONLY)
            try:
                os.write(procs, b"0")
            finally:
                os.close(procs)
        memory = req.get("memory_bytes")
        if memory:
            # RLIMIT_DATA counts heap and anonymous mappings (Linux >= 4.7): an allocation past
            # the plan fails with MemoryError instead of growing until the watchdog kills it.
            resource.setrlimit(resource.RLIMIT_DATA, (memory, memory))
        environ = os.environ
        for key, value in (req.get("env") or {}).items():
            environ[key] = value  # not update(): its Mapping check alone touches many pages
        if req.get("cwd"):
            os.chdir(req["cwd"])
        argv = req.get("exec")
        if argv:
            os.execvpe(argv[0], argv, dict(environ))
        code = runner(req)
    except SystemExit as exc:
        code = _exit_status(exc)
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _exit_status(exc: SystemExit) -> int:
    """What the interpreter would exit with for ``SystemExit(code)``."""
    if exc.code is None:
        return 0
    if isinstance(exc.code, int):
        return exc.code
    print(exc.code, file=sys.stderr)
    return 1


def _baton_runner(app: Any) -> Runner:
    from baton.sdk import runtime

    def run(req: dict[str, Any]) -> int:
        if req.get("mode") == "register":
            return runtime.register(app.registry, req["socket_path"])
        return runtime.run_attempt(app.registry, req["socket_path"])

    return run


def _render_runner(entry: str) -> Runner:
    """Import the SDK's ``render-workflows`` entry point and the user's module, once.

    Each child then calls that entry point as the console script would, so the SDK's own code
    runs the attempt: it finds the module already imported and calls ``app.start()``.
    """
    from importlib.metadata import entry_points  # only the render zygote needs it

    if "" not in sys.path:
        sys.path.insert(0, "")  # what render-workflows does: the code directory is importable
    found = [ep for ep in entry_points(group="console_scripts") if ep.name == "render-workflows"]
    if not found:
        raise RuntimeError("no render-workflows console script in this Python environment")
    main = found[0].load()
    module, sep, attr = entry.rpartition(":")
    if not sep or not module or not attr:
        raise RuntimeError(f"not a module:attribute entry: {entry!r}")
    app = getattr(importlib.import_module(module), attr)
    if not hasattr(app, "start"):
        raise RuntimeError(f"{entry} has no start() method")

    def run(req: dict[str, Any]) -> int:
        sys.argv = ["render-workflows", entry]
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = _exit_status(exc)
        except BaseException:
            traceback.print_exc()  # as the interpreter prints an uncaught exception
            code = 1
        atexit._run_exitfuncs()  # a real interpreter exit runs these (logging.shutdown, ...)
        return code

    return run


def _reap(channel: _Channel, keys: dict[int, str]) -> None:
    """Report every exited child; ``keys`` maps a live child's pid to its key as JSON text."""
    exited = []  # one write for all of them
    while True:
        try:
            pid, status, usage = os.wait4(-1, os.WNOHANG)
        except ChildProcessError:
            break
        if pid == 0:
            break
        key = keys.pop(pid, None)
        if key is None:
            continue
        signum = os.WTERMSIG(status) if os.WIFSIGNALED(status) else None
        exited.append(
            _EXITED
            % (
                key,
                pid,
                os.waitstatus_to_exitcode(status),
                "null" if signum is None else signum,
                usage.ru_maxrss,
                round(usage.ru_utime + usage.ru_stime, 6),
            )
        )
    if exited:
        channel.write("".join(exited))


def _key_json(line: bytes) -> str:
    """The request's key as JSON text, without decoding the request when it starts as the
    engine's do and its key has no escapes (then the JSON text is the key in quotes)."""
    if line.startswith(_FORK_PREFIX):
        end = line.find(b'"', len(_FORK_PREFIX))
        key = line[len(_FORK_PREFIX) - 1 : end + 1]
        if end > 0 and b"\\" not in key and key.isascii():
            return key.decode("ascii")
    return json.dumps(json.loads(line)["key"])


def _fork(line: bytes, channel: _Channel, runner: Runner, keys: dict[int, str]) -> None:
    key = _key_json(line)
    sys.stdout.flush()
    sys.stderr.flush()
    forked_at = time.time()
    pid = os.fork()
    if pid == 0:
        _child(line, channel, runner)
    # The child calls setpgid too; doing it here as well closes the window in which a kill
    # of the (not yet existing) group would be lost.
    try:  # noqa: SIM105  (contextlib.suppress: three more Python calls, and pages, per fork)
        os.setpgid(pid, pid)
    except OSError:
        pass  # the child has exec-ed or exited already
    keys[pid] = key
    channel.write(_STARTED % (key, pid, forked_at))


def _load(target: str | None, cwd: str | None, render_entry: str | None) -> Runner:
    if render_entry:
        return _render_runner(render_entry)
    app = None
    if target:
        from baton.sdk.loader import load_app

        app = load_app(target, cwd=cwd)
    from baton.sdk.warmup import warm_up

    warm_up()  # run one no-op attempt here so every fork starts with hot code paths
    return _baton_runner(app)


def serve(target: str | None, cwd: str | None, render_entry: str | None = None) -> int:
    channel = _Channel()
    if cwd:
        os.chdir(cwd)
    try:
        runner = _load(target, cwd, render_entry)
    except BaseException as exc:
        channel.send({"type": "failed", "message": f"{exc}\n{traceback.format_exc()}"})
        return 1
    for stream in (sys.stdout, sys.stderr):  # line-buffered logs: once here, not per child
        if isinstance(stream, io.TextIOWrapper):
            stream.reconfigure(line_buffering=True)
    gc.collect()
    _fill_free_blocks()
    gc.freeze()  # keep the imported heap shared with every fork (no refcount-driven copies)
    channel.send({"type": "ready", "pid": os.getpid()})
    return _loop(channel, runner)


#: Objects that fill the allocator's free blocks (``_fill_free_blocks``); never freed.
_FILLERS: list[object] = []
_STATS_HEAD = "class   size   num pools   blocks in use  avail blocks"
_MAX_FILL_BYTES = 1 << 20  # per size class: more would be a table we misread


def _fill_free_blocks() -> None:
    """Fill the free blocks left in the zygote's partly used allocator pools.

    Imports leave holes in CPython's small-object pools. Objects allocated after a fork (in
    the zygote and in every child) would fill them one here, one there, each write copying
    a page; filled, new objects come from fresh pools, many to a page. A few hundred KB of
    pages that are resident anyway. Best effort: a no-op where the allocator's statistics
    are not available (not CPython, no memfd) or read differently.
    """
    for _ in range(3):  # reading the statistics itself leaves a few new holes
        free = _free_blocks()
        if not free:
            return
        for size, count in free.items():
            if size >= 48:  # a bytes object of n bytes takes a block of 33 + n
                _FILLERS.extend(bytes(size - 33) for _ in range(count))
            elif size == 32:  # an int past the small-int cache takes 28
                _FILLERS.extend(range(1 << 20, (1 << 20) + count))


def _free_blocks() -> dict[int, int]:
    """Free blocks per size class of CPython's small-object allocator, or ``{}``."""
    stats = getattr(sys, "_debugmallocstats", None)
    if stats is None or not hasattr(os, "memfd_create"):
        return {}
    out = os.memfd_create("baton-malloc-stats")
    saved = os.dup(2)
    try:
        os.dup2(out, 2)  # the statistics go to C's stderr
        stats()
    finally:
        os.dup2(saved, 2)
        os.close(saved)
    try:
        os.lseek(out, 0, os.SEEK_SET)
        text = os.read(out, 1 << 20).decode("ascii", "replace")
    finally:
        os.close(out)
    rows = text.partition(_STATS_HEAD)[2]
    if not rows:
        return {}
    free = {}
    for line in rows.splitlines():
        fields = line.split()
        if len(fields) == 5 and all(field.isdigit() for field in fields):
            size, count = int(fields[1]), int(fields[4])
            if size <= 512 and size * count <= _MAX_FILL_BYTES:
                free[size] = count
        elif free:  # the end of the table
            break
    return free


def _loop(channel: _Channel, runner: Runner) -> int:
    """Fork on each request line; reap on SIGCHLD; exit when the engine closes stdin."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_w, False)
    signal.set_wakeup_fd(wake_w)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    keys: dict[int, str] = {}
    pending = b""
    while True:
        ready, _, _ = select.select([0, wake_r], [], [])
        if wake_r in ready:
            os.read(wake_r, 4096)
            _reap(channel, keys)
        if 0 in ready:
            chunk = os.read(0, 65536)
            if not chunk:  # the engine went away: take the attempts down with us
                for pid in list(keys):
                    with contextlib.suppress(OSError):
                        os.killpg(pid, signal.SIGKILL)
                return 0
            pending += chunk
            *lines, pending = pending.split(b"\n")
            for line in lines:
                if line.strip():
                    _fork(line, channel, runner, keys)
            _reap(channel, keys)


def main(argv: list[str] | None = None) -> int:
    """Options ``--target``, ``--cwd`` and ``--render-entry``, each followed by its value.

    Parsed by hand: ``argparse`` would stay in the zygote's memory, which every fork maps.
    """
    values: dict[str, str | None] = {"--target": None, "--cwd": None, "--render-entry": None}
    args = sys.argv[1:] if argv is None else argv
    if len(args) % 2 or any(name not in values for name in args[::2]):
        print(f"usage: baton-zygote {' '.join(f'[{n} VALUE]' for n in values)}", file=sys.stderr)
        return 2
    values.update({args[i]: args[i + 1] for i in range(0, len(args), 2)})
    return serve(values["--target"], values["--cwd"], values["--render-entry"])


if __name__ == "__main__":
    sys.exit(main())
