"""A real ``keyward serve`` for the tests, and the small servers around it.

The binary is ``$KEYWARD_BIN`` (CI sets it to the workspace's ``target/debug/keyward``),
else ``../../target/debug/keyward`` from this client's directory. Without it the tests skip,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
CLIENT_DIR = HERE.parent


def keyward_bin() -> Path:
    path = Path(os.environ.get("KEYWARD_BIN", CLIENT_DIR / "../../target/debug/keyward"))
    if not path.is_file():
        message = f"no keyward binary at {path} (build it, or set KEYWARD_BIN)"
        if os.environ.get("CI") == "true":
            pytest.fail(message)
        pytest.skip(message)
    return path.resolve()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Server:
    """One running ``keyward serve`` with its organization."""

    url: str
    root_key: str
    org_id: str
    process: subprocess.Popen[bytes]
    data_dir: str
    log: Path
    extra: dict[str, Any] = field(default_factory=dict)

    def admin(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.root_key}"}, timeout=10
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(*args: str) -> Server:
    binary = keyward_bin()
    data_dir = tempfile.mkdtemp(prefix="keyward-py-")
    created = subprocess.run(
        [
            str(binary),
            "--data-dir",
            data_dir,
            "org",
            "create",
            "--name",
            "Acme",
            "--owner-email",
            "ops@acme.example",
            "--json",
        ],
        check=True,
        capture_output=True,
        timeout=60,
    )
    org = json.loads(created.stdout)
    port = free_port()
    log = Path(data_dir) / "server.log"
    process = subprocess.Popen(
        [str(binary), "--data-dir", data_dir, "serve", "--addr", f"127.0.0.1:{port}", *args],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    server = Server(url, org["root_key"], org["org_id"], process, data_dir, log)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"keyward serve exited: {log.read_text()}")
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return server
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    server.stop()
    raise RuntimeError(f"keyward serve did not get ready: {log.read_text()}")


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """The suite's server (webhooks may reach 127.0.0.1), with a project ``data, push``."""
    srv = start_server("--webhook-allow-private", "--usage-flush-ms", "100")
    with srv.admin() as admin:
        project = admin.post(
            "/v1/projects", json={"name": "Widgets", "key_prefix": "wid", "apis": ["data", "push"]}
        )
        project.raise_for_status()
        srv.extra["project_id"] = project.json()["id"]
    yield srv
    srv.stop()


@pytest.fixture
def make_key(server: Server) -> Callable[..., dict[str, Any]]:
    """Create a key in the test project (scopes ``data:read`` unless told); its JSON."""

    def make(**fields: Any) -> dict[str, Any]:
        body = {"name": "test key", "project_id": server.extra["project_id"], **fields}
        if "role" not in body and "scopes" not in body:
            body["scopes"] = ["data:read"]
        with server.admin() as admin:
            answer = admin.post("/v1/keys", json=body)
            answer.raise_for_status()
            return dict(answer.json())

    return make


@contextmanager
def blackhole() -> Iterator[str]:
    """A TCP server that accepts connections and never answers: a Keyward too slow."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        listener.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()


@contextmanager
def serve_asgi(app: Any) -> Iterator[str]:
    """Run an ASGI app with uvicorn on a free port in a thread: its base URL."""
    import uvicorn

    port = free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline:
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(10)


@contextmanager
def serve_wsgi(app: Any) -> Iterator[str]:
    """Run a WSGI app with werkzeug's threaded server on a free port: its base URL."""
    from werkzeug.serving import make_server

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(10)


@contextmanager
def scripted_http(answers: list[tuple[int, bytes]]) -> Iterator[tuple[str, list[str]]]:
    """An HTTP server answering each request with the next (status, JSON body) of
    ``answers`` (the last one repeats); yields its URL and the paths it was asked."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            self.rfile.read(length)
            status, body = answers[min(len(seen), len(answers) - 1)]
            seen.append(self.path)
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST

        def log_message(self, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(10)


def dead_url() -> str:
    """A URL where nothing listens."""
    return f"http://127.0.0.1:{free_port()}"
