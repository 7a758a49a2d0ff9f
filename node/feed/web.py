"""The web dashboard: a small HTTP server on 127.0.0.1 that serves the page and ``/api/feed`` as JSON.

It reads through a ``feed_source`` callable (the seam: the CLI passes one that reads the ledger, tests may pass
their own), so the same server runs standalone (``swarm-node dashboard``) or inside a running node. The page polls
the API; every string in it comes from peers and is only ever written as text, never as markup.

A request whose ``Host`` header is not a loopback name (127.0.0.1, localhost, [::1]) or the configured host is
refused with 421: a page on another origin that rebinds its DNS name to 127.0.0.1 cannot read the feed.
"""

from __future__ import annotations

import json
import logging
import threading
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from typing import Any, Callable, Iterable

__all__ = ["DashboardServer"]

log = logging.getLogger(__name__)

FeedSource = Callable[[], dict[str, Any]]

LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")

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
        if not self.server.host_allowed(self.headers.get("Host", "")):
            log.info("dashboard: refused a request for Host %r", self.headers.get("Host", "")[:100])
            self._send(HTTPStatus.MISDIRECTED_REQUEST, b"unknown Host: open the dashboard as http://127.0.0.1:PORT/",
                       "text/plain")
            return
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

    def __init__(self, address: tuple[str, int], feed_source: FeedSource, names: Iterable[str]) -> None:
        self.feed_source = feed_source
        super().__init__(address, _Handler)
        port = self.server_address[1]
        self.allowed = {name.lower() for base in names for name in (base, f"{base}:{port}")}

    def host_allowed(self, header: str) -> bool:
        """Whether a ``Host`` header names this server: a loopback name or the configured host, any or our port."""
        return header.strip().lower() in self.allowed


class DashboardServer:
    """``with DashboardServer(feed_source, host, port) as dash: print(dash.url)``; serves in a background thread."""

    def __init__(self, feed_source: FeedSource, host: str = "127.0.0.1", port: int = 8737) -> None:
        configured = f"[{host}]" if ":" in host else host
        self._server = _Server((host, port), feed_source, (*LOOPBACK_NAMES, configured))
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host.decode() if isinstance(host, bytes) else host}:{port}/"

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
