"""The Label Studio client's errors, without a Label Studio (the live test is beside this)."""

from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

import pytest

from budgetplan.planner.labelstudio_api import LabelStudioAPIError, LabelStudioClient


def test_bad_address_token_and_unreachable_server() -> None:
    with pytest.raises(LabelStudioAPIError, match="not an http"):
        LabelStudioClient("localhost:8080", "t")
    with pytest.raises(LabelStudioAPIError, match="no Label Studio token"):
        LabelStudioClient("http://127.0.0.1:8080", " ")
    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = LabelStudioClient(f"http://127.0.0.1:{port}", "t", timeout=5)
    with pytest.raises(LabelStudioAPIError, match="cannot reach Label Studio at"):
        client.task_count(1)


class _Handler(BaseHTTPRequestHandler):
    seen: list[tuple[str, str, str]] = []

    def _reply(self, code: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:  # noqa: N802 - http.server's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append(("POST", self.path, self.headers.get("Authorization", "")))
        if self.path == "/api/token/refresh":
            self._reply(200 if body.get("refresh") == "a.b.c" else 401, {"access": "ACCESS"})
        else:
            self._reply(401, {"detail": "Invalid token."})

    def log_message(self, *args: object) -> None:
        pass


def test_token_kinds_and_refusals_are_one_line() -> None:
    server = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        with pytest.raises(
            LabelStudioAPIError, match='HTTP 401 "Invalid token." \\(check --token\\)'
        ):
            LabelStudioClient(url, "legacy").create_project("t", "<View/>")
        assert _Handler.seen[-1] == ("POST", "/api/projects", "Token legacy")
        with pytest.raises(LabelStudioAPIError, match="HTTP 401"):
            LabelStudioClient(url, "a.b.c").create_project("t", "<View/>")
        # A personal access token is exchanged for an access token first, then sent as Bearer.
        assert _Handler.seen[-2:] == [
            ("POST", "/api/token/refresh", ""),
            ("POST", "/api/projects", "Bearer ACCESS"),
        ]
    finally:
        server.shutdown()
        server.server_close()
