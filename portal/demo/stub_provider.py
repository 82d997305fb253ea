"""A stand-in LLM provider on loopback: answers model-list calls and checks the key.

Used by `portal demo` (so "Test connection" works offline) and by the tests. It accepts the
keys it was given, in whichever header the real provider uses.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

MODEL_PATHS = ("/models", "/v1/models", "/openai/models", "/v1beta/models")


def _presented_key(headers: dict[str, str]) -> str | None:
    auth = headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        return auth[7:]
    return headers.get("x-api-key") or headers.get("api-key") or headers.get("x-goog-api-key")


class StubProvider:
    def __init__(self, accepted_keys: set[str], host: str = "127.0.0.1", port: int = 0) -> None:
        self.accepted_keys = accepted_keys
        self.requests: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                path = urlsplit(self.path).path
                stub.requests.append({"path": self.path, **headers})
                if not path.endswith(MODEL_PATHS):
                    return self._answer(404, {"error": "not found"})
                if _presented_key(headers) not in stub.accepted_keys:
                    return self._answer(401, {"error": {"message": "invalid api key"}})
                return self._answer(
                    200, {"object": "list", "data": [{"id": "stub-model", "object": "model"}]}
                )

            def _answer(self, status: int, body: object) -> None:
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: object) -> None:  # quiet
                return

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self) -> StubProvider:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
