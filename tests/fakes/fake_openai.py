"""A real HTTP server on 127.0.0.1 speaking the OpenAI chat completions API, scripted per test.

``FakeOpenAI`` is a context manager; ``script`` is a list of behaviours served in order (the last one repeats):
``("good", text, description)``, ``("garbage",)``, ``("nonparsing",)``, ``("huge",)`` (a 2 MB reply),
``("error500",)`` (with ``retry-after-ms: 10``, which the openai client honours), ``("error401",)``, ``("error403",)``,
``("error404",)`` (an unknown model) and ``("hang",)`` (no answer until the server closes). ``requests`` holds the
decoded request bodies.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

__all__ = ["FakeOpenAI", "good_reply"]


def good_reply(text: str, description: str) -> str:
    """A reply in the format the llm agent's system prompt asks for."""
    return f"DESCRIPTION: {description}\n```python\n{text}```\n"


def _completion(content: str, model: str) -> bytes:
    return json.dumps({
        "id": "chatcmpl-fake", "object": "chat.completion", "created": 0, "model": model,
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
    }).encode()


class FakeOpenAI:
    """The scripted server; ``base_url`` is what ``OpenAI(base_url=...)`` takes."""

    def __init__(self, script: list[tuple[Any, ...]]) -> None:
        self.script = list(script)
        self.requests: list[dict[str, Any]] = []
        self._closing = threading.Event()
        self._lock = threading.Lock()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                with fake._lock:
                    fake.requests.append(body)
                    step = fake.script[min(len(fake.requests), len(fake.script)) - 1]
                kind, model = step[0], body.get("model", "fake")
                if kind == "hang":
                    fake._closing.wait(30)
                    return
                if kind.startswith("error"):
                    code = int(kind[5:])
                    message = {401: "Incorrect API key provided", 403: "not allowed",
                               404: f"The model `{model}` does not exist"}.get(code, "boom")
                    payload = json.dumps({"error": {"message": message, "type": "server_error"}}).encode()
                    self._send(code, payload, retry_after_ms=10)
                    return
                content = {
                    "good": lambda: good_reply(step[1], step[2]),
                    "garbage": lambda: "I think you should try a bigger model! No code today.",
                    "nonparsing": lambda: good_reply("def broken(:\n    pass\n", "broken file"),
                    "huge": lambda: good_reply("X = 1\n" + "# pad\n" * 350_000, "huge"),
                }[kind]()
                self._send(200, _completion(content, model))

            def _send(self, code: int, payload: bytes, retry_after_ms: int | None = None) -> None:
                self.send_response(code)
                self.send_header("Content-Type", "application/json")
                if retry_after_ms is not None:
                    self.send_header("retry-after-ms", str(retry_after_ms))
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                try:
                    self.wfile.write(payload)
                except (BrokenPipeError, ConnectionResetError):
                    pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def base_url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}/v1"

    def __enter__(self) -> FakeOpenAI:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._closing.set()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)
