"""A local HTTP server that speaks the vendors' documented contracts.

One server hosts every vendor under its own path prefix (``/certainly``, ``/clevertap``, ...).
It keeps a request log, and injects faults on demand (status codes with Retry-After, connection
resets before or inside a body, slow responses, truncated JSON, HTML with 200, empty bodies,
wrong content types). Tests start it in a thread; the demo runs it as ``python -m sandbox``.

Control endpoints (under ``/_sandbox``): ``GET requests`` (the log), ``DELETE requests``,
``POST faults`` (JSON list of fault dicts), ``DELETE faults``.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import threading
import time
import typing as t
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit

HTML_ERROR_PAGE = b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"


class _QuietServer(ThreadingHTTPServer):
    """A client that hangs up (a killed tap, a timeout test) is not a sandbox error.

    Counts the connections being served, so a test can wait until the requests of a tap that
    has exited are all handled (and logged) before it clears the log for the next run.
    """

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        super().__init__(*args, **kwargs)
        self.open_connections = 0
        self._count_lock = threading.Lock()

    def process_request(self, request: t.Any, client_address: t.Any) -> None:
        with self._count_lock:
            self.open_connections += 1
        try:
            super().process_request(request, client_address)
        except BaseException:
            self._done()
            raise

    def process_request_thread(self, request: t.Any, client_address: t.Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            self._done()

    def _done(self) -> None:
        with self._count_lock:
            self.open_connections -= 1

    def idle(self) -> bool:
        """No connection being served and none waiting to be accepted."""
        if self.open_connections:
            return False
        ready, _, _ = select.select([self.socket], [], [], 0)
        return not ready

    def handle_error(self, request: t.Any, client_address: t.Any) -> None:
        import sys

        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class Headers(dict[str, str]):
    """Case-insensitive header lookup (keys stored lower-case)."""

    def get(self, key: str, default: t.Any = None) -> t.Any:  # type: ignore[override]
        return super().get(key.lower(), default)


@dataclass
class Request:
    method: str
    path: str  # path below the vendor prefix, e.g. "/api/reports/messages/"
    raw_target: str  # the request target as sent (path + query), for URL assertions
    query: dict[str, list[str]]
    headers: Headers
    body: bytes

    def arg(self, name: str, default: str | None = None) -> str | None:
        values = self.query.get(name)
        return values[0] if values else default

    def json(self) -> t.Any:
        if not self.body:
            return None
        return json.loads(self.body)


@dataclass
class Response:
    status: int = 200
    body: t.Any = None
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None

    def encode(self) -> bytes:
        if self.raw is not None:
            return self.raw
        return json.dumps(self.body, separators=(",", ":")).encode()


def json_response(body: t.Any, status: int = 200, **headers: str) -> Response:
    return Response(status=status, body=body, headers=dict(headers))


class VendorApp(t.Protocol):
    """One vendor's fake API, mounted under ``prefix``."""

    prefix: str

    def handle(self, request: Request) -> Response: ...


@dataclass
class Fault:
    """A fault applied to the next ``times`` requests whose target matches ``match``.

    kinds: ``status`` (answer ``status`` with optional ``retry_after`` and ``body``), ``reset``
    (close the connection without answering), ``reset_mid`` (send headers and half the body, then
    close), ``slow`` (sleep ``delay`` seconds, then answer normally), ``truncate`` (200 with half
    the JSON), ``html`` (200 with an HTML page), ``empty`` (200 with no body), ``content_type``
    (the real body labelled text/plain).
    """

    match: str = ""
    kind: str = "status"
    status: int = 500
    retry_after: str | None = None
    body: t.Any = None
    delay: float = 0.0
    times: int = 1

    def matches(self, target: str) -> bool:
        return bool(re.search(self.match, target))


@dataclass
class LoggedRequest:
    method: str
    target: str
    vendor: str
    status: int
    headers: dict[str, str]
    body: str
    at: float


class Sandbox:
    """The server. ``with Sandbox([apps...]) as sb: sb.url``."""

    def __init__(self, apps: t.Sequence[VendorApp], host: str = "127.0.0.1", port: int = 0) -> None:
        self.apps = {app.prefix.rstrip("/"): app for app in apps}
        self.faults: list[Fault] = []
        self.requests: list[LoggedRequest] = []
        self.latency = 0.0
        self._lock = threading.Lock()
        self._server = _QuietServer((host, port), self._handler_class())
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> Sandbox:
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> Sandbox:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    # ------------------------------------------------------------------ control

    def add_fault(self, fault: Fault | None = None, **kwargs: t.Any) -> None:
        with self._lock:
            self.faults.append(fault or Fault(**kwargs))

    def wait_idle(self, timeout: float = 10.0) -> bool:
        """Wait until every connection (of a client that has exited) is served and closed.

        A tap that exits (or is killed) with requests in flight leaves them to be handled and
        logged after it is gone; clearing the log before that lets them count in the next run.
        Twice idle 20 ms apart, so a connection accepted between the checks is not missed.
        """
        deadline = time.monotonic() + timeout
        quiet = 0
        while time.monotonic() < deadline:
            quiet = quiet + 1 if self._server.idle() else 0
            if quiet >= 2:
                return True
            time.sleep(0.02)
        return False

    def clear(self) -> None:
        with self._lock:
            self.faults.clear()
            self.requests.clear()

    def requests_for(self, vendor: str) -> list[LoggedRequest]:
        return [r for r in self.requests if r.vendor == vendor]

    def _take_fault(self, target: str) -> Fault | None:
        with self._lock:
            for fault in self.faults:
                if fault.times > 0 and fault.matches(target):
                    fault.times -= 1
                    return fault
        return None

    def _log(self, request: Request, vendor: str, status: int) -> None:
        with self._lock:
            self.requests.append(
                LoggedRequest(
                    method=request.method,
                    target=request.raw_target,
                    vendor=vendor,
                    status=status,
                    headers=dict(request.headers),
                    body=request.body.decode("utf-8", "replace"),
                    at=time.time(),
                )
            )

    def _control(self, request: Request) -> Response:
        name = request.path.strip("/")
        if name == "requests" and request.method == "GET":
            return json_response(
                [
                    {
                        "method": r.method,
                        "target": r.target,
                        "vendor": r.vendor,
                        "status": r.status,
                        "headers": r.headers,
                        "body": r.body,
                    }
                    for r in self.requests
                ]
            )
        if name == "requests" and request.method == "DELETE":
            with self._lock:
                self.requests.clear()
            return json_response({"ok": True})
        if name == "faults" and request.method == "POST":
            for item in request.json() or []:
                self.add_fault(Fault(**item))
            return json_response({"ok": True})
        if name == "faults" and request.method == "DELETE":
            with self._lock:
                self.faults.clear()
            return json_response({"ok": True})
        return json_response({"error": "unknown control endpoint"}, status=404)

    # ------------------------------------------------------------------ dispatch

    def dispatch(self, request: Request) -> tuple[str, Response]:
        path = request.path
        if path.startswith("/_sandbox/"):
            request.path = path[len("/_sandbox") :]
            return "_sandbox", self._control(request)
        for prefix, app in self.apps.items():
            if path == prefix or path.startswith(prefix + "/"):
                request.path = path[len(prefix) :] or "/"
                try:
                    return prefix.strip("/"), app.handle(request)
                except Exception as exc:  # a sandbox bug must show up as a 500, not a hang
                    return prefix.strip("/"), json_response(
                        {"error": f"sandbox error: {type(exc).__name__}: {exc}"}, status=500
                    )
        return "-", json_response({"error": f"no vendor mounted at {path}"}, status=404)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        sandbox = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # Headers and body go out in two writes: without this every response waits for a
            # delayed ACK (~40 ms).
            disable_nagle_algorithm = True

            def log_message(self, format: str, *args: t.Any) -> None:
                return

            def _serve(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                split = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=split.path,
                    raw_target=self.path,
                    query=parse_qs(split.query, keep_blank_values=True),
                    headers=Headers({k.lower(): v for k, v in self.headers.items()}),
                    body=body,
                )
                if sandbox.latency and not split.path.startswith("/_sandbox/"):
                    time.sleep(sandbox.latency)
                fault = (
                    None if split.path.startswith("/_sandbox/") else sandbox._take_fault(self.path)
                )
                if fault and fault.kind == "slow":
                    time.sleep(fault.delay)
                    fault = None
                if fault and fault.kind == "reset":
                    sandbox._log(request, "fault", 0)
                    self._reset()
                    return
                if fault and fault.kind == "status":
                    response = Response(
                        status=fault.status,
                        body=fault.body if fault.body is not None else {"error": "injected"},
                    )
                    if fault.retry_after is not None:
                        response.headers["Retry-After"] = fault.retry_after
                    sandbox._log(request, "fault", fault.status)
                    self._send(response)
                    return
                vendor, response = sandbox.dispatch(request)
                sandbox._log(request, vendor, response.status)
                payload = response.encode()
                content_type = response.headers.pop("Content-Type", "application/json")
                if fault:
                    if fault.kind == "truncate":
                        payload = payload[: max(1, len(payload) // 2)]
                    elif fault.kind == "html":
                        payload = (
                            b"<!DOCTYPE html><html><body><h1>502 Bad Gateway</h1></body></html>"
                        )
                        content_type = "text/html"
                    elif fault.kind == "empty":
                        payload = b""
                    elif fault.kind == "content_type":
                        content_type = "text/plain"
                    elif fault.kind == "reset_mid":
                        self.send_response(response.status)
                        self.send_header("Content-Type", content_type)
                        self.send_header("Content-Length", str(len(payload)))
                        self.end_headers()
                        self.wfile.write(payload[: len(payload) // 2])
                        self.wfile.flush()
                        self._reset()
                        return
                self._send(response, payload, content_type)

            def _send(
                self,
                response: Response,
                payload: bytes | None = None,
                content_type: str = "application/json",
            ) -> None:
                data = response.encode() if payload is None else payload
                self.send_response(response.status)
                self.send_header("Content-Type", content_type)
                for key, value in response.headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _reset(self) -> None:
                with contextlib.suppress(OSError):
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00"
                    )
                self.close_connection = True
                self.connection.close()

            do_GET = do_POST = do_PUT = do_DELETE = _serve

        return Handler
