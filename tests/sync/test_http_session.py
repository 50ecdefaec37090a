"""Every organisation's client in a process shares one HTTP session (kept-alive connections to
Xero across passes), and that session carries nothing of one organisation to the next."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Iterator

import pytest

from xerosync.sync.context import http_session


class _SetsACookie(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200)
        self.send_header("Set-Cookie", "xero_session=of-one-organisation; Path=/")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        pass


@pytest.fixture
def cookie_server() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SetsACookie)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_one_session_per_process() -> None:
    assert http_session() is http_session()


def test_the_shared_session_keeps_no_cookie(cookie_server: str) -> None:
    answer = http_session().get(cookie_server, timeout=5)
    assert answer.status_code == 200 and "xero_session" in answer.headers["Set-Cookie"]
    assert len(http_session().cookies) == 0, "nothing of one organisation reaches the next"
