"""``Engine(otel=True)`` posts OTLP/HTTP to the endpoint the standard variables name."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from baton.server import Engine, Target
from baton.tracing import attempt_span_id, run_span_id, trace_id_for

EXAMPLES = Path(__file__).resolve().parent.parent.parent / "examples"


class _Receiver(ThreadingHTTPServer):
    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.posts: list[tuple[str, str, bytes]] = []


class _Handler(BaseHTTPRequestHandler):
    server: _Receiver

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.server.posts.append((self.path, self.headers.get("Content-Type", ""), body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[_Receiver]:
    server = _Receiver()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


async def test_spans_reach_an_otlp_http_receiver(
    receiver: _Receiver, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", f"http://127.0.0.1:{receiver.server_port}")
    monkeypatch.setenv("OTEL_SERVICE_NAME", "baton-under-test")
    engine = Engine(f"sqlite:///{tmp_path / 'baton.db'}", otel=True)
    async with engine:
        await engine.register(Target.app(str(EXAMPLES / "squares.py")), "squares")
        run = engine.services.start_run("squares/sum_squares", [3, 4])
        done = await engine.services.wait_final(run.id, 30.0)
        assert done.status == "completed"
    # stopping the engine flushed the exporter

    assert receiver.posts
    assert {(path, ctype) for path, ctype, _ in receiver.posts} == {
        ("/v1/traces", "application/x-protobuf")
    }
    spans = []
    services = set()
    for _, _, body in receiver.posts:
        request = ExportTraceServiceRequest()
        request.ParseFromString(body)
        for resource_spans in request.resource_spans:
            services |= {
                a.value.string_value
                for a in resource_spans.resource.attributes
                if a.key == "service.name"
            }
            for scope_spans in resource_spans.scope_spans:
                spans.extend(scope_spans.spans)
    assert services == {"baton-under-test"}
    assert len(spans) == 6  # the root and its two chained squares: a run and an attempt span each
    trace_id = trace_id_for(run.id).to_bytes(16, "big")
    assert {s.trace_id for s in spans} == {trace_id}
    by_id = {int.from_bytes(s.span_id, "big"): s for s in spans}
    root_attempt = by_id[attempt_span_id(run.id, 0)]
    assert root_attempt.name == "squares/sum_squares"
    assert int.from_bytes(root_attempt.parent_span_id, "big") == run_span_id(run.id)
    squares = [s for s in spans if s.name == "run squares/calculate_square"]
    assert len(squares) == 2
    assert {int.from_bytes(s.parent_span_id, "big") for s in squares} == {
        attempt_span_id(run.id, 0)
    }
