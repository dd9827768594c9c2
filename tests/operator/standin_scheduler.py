"""A stand-in Dask scheduler for the operator's tests, run in a pod with ``python -c <this file>``.

STANDIN_MODE=pickle: a hostile scheduler.
  - 8786 speaks distributed's comm protocol; its ``identity`` answer carries a pickled object
    that, once unpickled, creates the file STANDIN_MARKER;
  - 8787 answers every HTTP request with 200 and that pickle as the body.
STANDIN_MODE=api: a scheduler whose HTTP API works but cannot retire.
  - workers register with ``POST /register {"address", "name"}``; ``/api/v1/get_workers`` lists
    them, ``adaptive_target`` and ``check_idle`` answer as a scheduler would;
  - ``POST /api/v1/retire_workers`` waits until ``POST /release``, then fails with HTTP 500 like
    distributed does on an exception;
  - ``GET /calls`` counts the requests by path.
"""

from __future__ import annotations

import asyncio
import json
import os
import pickle
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

MODE = os.environ.get("STANDIN_MODE", "pickle")
MARKER = os.environ.get("STANDIN_MARKER", "/nonexistent/marker")


class Payload:
    """Unpickling this creates MARKER: proof that the reader ran code it was sent."""

    def __reduce__(self):
        return (open, (MARKER, "w"))


PICKLE = pickle.dumps(Payload())
workers: dict[str, str] = {}
calls: dict[str, int] = {}
released = threading.Event()
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass

    def answer(self, status: int, body: bytes, kind: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def count(self) -> None:
        with lock:
            calls[self.path] = calls.get(self.path, 0) + 1

    def do_GET(self) -> None:
        self.count()
        if MODE == "pickle":
            return self.answer(200, PICKLE)
        if self.path == "/health":
            return self.answer(200, b"ok", "text/plain")
        if self.path == "/calls":
            with lock:
                return self.answer(200, json.dumps(calls).encode())
        if self.path == "/api/v1/get_workers":
            with lock:
                listed = [{"name": name, "address": addr} for addr, name in workers.items()]
            return self.answer(200, json.dumps({"num_workers": len(listed),
                                                "workers": listed}).encode())
        if self.path == "/api/v1/adaptive_target":
            return self.answer(200, json.dumps({"workers": len(workers)}).encode())
        if self.path == "/api/v1/check_idle":
            return self.answer(200, json.dumps({"idle_since": None}).encode())
        return self.answer(404, b"404: Not Found", "text/plain")

    def do_POST(self) -> None:
        self.count()
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if MODE == "pickle":
            return self.answer(200, PICKLE)
        if self.path == "/register":
            worker = json.loads(body)
            with lock:
                workers[worker["address"]] = worker["name"]
            return self.answer(200, b"{}")
        if self.path == "/release":
            released.set()
            return self.answer(200, b"{}")
        if self.path == "/api/v1/retire_workers":
            released.wait(600)
            return self.answer(500, json.dumps({"Error": "Internal Server Error"}).encode())
        return self.answer(404, b"404: Not Found", "text/plain")


def serve_http() -> None:
    http = ThreadingHTTPServer(("0.0.0.0", 8787), Handler)
    threading.Thread(target=http.serve_forever, daemon=True).start()


async def comm_server() -> None:
    """Port 8786: distributed's own server, so the frames are exactly what a client reads."""
    from distributed.core import Server
    from distributed.protocol.serialize import ToPickle

    async def identity(comm=None, **kwargs):
        return {"type": "Scheduler", "id": "stand-in", "workers": ToPickle(Payload())}

    server = Server({"identity": identity})
    await server.listen("tcp://0.0.0.0:8786")
    serve_http()  # only now: once 8787 answers, 8786 does too
    await asyncio.Event().wait()


def main() -> None:
    if MODE == "pickle":
        asyncio.run(comm_server())
    else:
        serve_http()
        threading.Event().wait()


if __name__ == "__main__":
    main()
