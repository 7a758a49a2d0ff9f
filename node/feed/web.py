"""The web dashboard: a small HTTP server on 127.0.0.1 that serves the page and ``/api/feed`` as JSON.

It reads through a ``feed_source`` callable (the seam: the CLI passes one that reads the ledger, tests may pass
their own), so the same server runs standalone (``swarm-node dashboard``) or inside a running node. The page polls
the API; every string in it comes from peers and is only ever written as text, never as markup.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable

__all__ = ["DashboardServer"]

log = logging.getLogger(__name__)

FeedSource = Callable[[], dict[str, Any]]

_STATIC = {
    "/": ("index.html", "text/html; charset=utf-8"),
    "/static/dashboard.js": ("dashboard.js", "text/javascript; charset=utf-8"),
    "/static/plot.js": ("plot.js", "text/javascript; charset=utf-8"),
    "/static/dashboard.css": ("dashboard.css", "text/css; charset=utf-8"),
}
_SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


def _static(name: str) -> bytes:
    return resources.files("node.feed").joinpath("static").joinpath(name).read_bytes()


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
        path = self.path.split("?", 1)[0]
        if path == "/api/feed":
            try:
                body = json.dumps(self.server.feed_source(), allow_nan=False).encode()
            except Exception:  # the page must survive a bad read; the log says why
                log.exception("building the feed failed")
                self._send(HTTPStatus.INTERNAL_SERVER_ERROR, b'{"error": "feed unavailable"}', "application/json")
                return
            self._send(HTTPStatus.OK, body, "application/json")
        elif path in _STATIC:
            name, kind = _STATIC[path]
            self._send(HTTPStatus.OK, _static(name), kind)
        else:
            self._send(HTTPStatus.NOT_FOUND, b"not found", "text/plain")

    def _send(self, status: HTTPStatus, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for key, value in _SECURITY_HEADERS.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (http.server's signature)
        log.debug("dashboard %s: " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], feed_source: FeedSource) -> None:
        self.feed_source = feed_source
        super().__init__(address, _Handler)


class DashboardServer:
    """``with DashboardServer(feed_source, host, port) as dash: print(dash.url)``; serves in a background thread."""

    def __init__(self, feed_source: FeedSource, host: str = "127.0.0.1", port: int = 8737) -> None:
        self._server = _Server((host, port), feed_source)
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()
