"""Fixtures shared by the tests: a local HTTP server standing in for dataset hosts."""

from __future__ import annotations

import base64
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


class LocalServer:
    """A local HTTP server for download tests.

    ``serve(path, body)`` publishes ``body`` at ``path`` and returns its URL; ``announced`` makes
    the ``Content-Length`` header lie (a connection cut short), ``trickle`` sends one byte every
    so many seconds (a stalled host), ``need_auth = "user:password"`` demands HTTP basic auth.
    ``requests`` lists the requested paths (query included), ``auth_headers`` their
    ``Authorization`` headers.
    """

    def __init__(self) -> None:
        self.routes: dict[str, tuple[bytes, int]] = {}
        self.trickle: dict[str, float] = {}
        self.requests: list[str] = []
        self.auth_headers: list[str | None] = []
        self.need_auth: str | None = None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                path = self.path.split("?", 1)[0]
                auth = self.headers.get("Authorization")
                server.requests.append(self.path)
                server.auth_headers.append(auth)
                if server.need_auth is not None:
                    expected = "Basic " + base64.b64encode(server.need_auth.encode()).decode()
                    if auth != expected:
                        self.send_error(401, "Unauthorized")
                        return
                if path not in server.routes:
                    self.send_error(404, "Not Found")
                    return
                body, announced = server.routes[path]
                self.send_response(200)
                self.send_header("Content-Length", str(announced))
                self.end_headers()
                try:
                    if path in server.trickle:
                        for i in range(len(body)):
                            self.wfile.write(body[i : i + 1])
                            self.wfile.flush()
                            time.sleep(server.trickle[path])
                    else:
                        self.wfile.write(body)
                except OSError:  # the client gave up
                    pass
                self.close_connection = True

            def log_message(self, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.base = f"http://127.0.0.1:{self.port}"

    def serve(self, path: str, body: bytes, announced: int | None = None, trickle: float | None = None) -> str:
        self.routes[path] = (body, len(body) if announced is None else announced)
        if trickle is not None:
            self.trickle[path] = trickle
        return self.base + path

    def reset(self) -> None:
        self.routes.clear()
        self.trickle.clear()
        self.requests.clear()
        self.auth_headers.clear()
        self.need_auth = None


@pytest.fixture(scope="module")
def _running_server():
    srv = LocalServer()
    thread = threading.Thread(target=srv.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield srv
    srv.httpd.shutdown()
    srv.httpd.server_close()


@pytest.fixture
def server(_running_server: LocalServer) -> LocalServer:
    """The module's server with no routes and no requests yet."""
    _running_server.reset()
    return _running_server
