"""A demo HTTP server on its own daemon thread, shared by the stub LLM provider and the demo
identity provider: `start()`/`stop()`, or a `with` block."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Self


class ThreadedServer:
    server: ThreadingHTTPServer
    url: str  # http://host:port, the port the system chose when asked for 0

    def _serve(
        self, handler: type[BaseHTTPRequestHandler], host: str, port: int, name: str | None = None
    ) -> None:
        self.server = ThreadingHTTPServer((host, port), handler)
        self.server.daemon_threads = True
        self.url = f"http://{host}:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name=name, daemon=True)

    def start(self) -> Self:
        self._thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()
