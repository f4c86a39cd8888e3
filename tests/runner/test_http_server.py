"""The server of /health, /metrics and the dashboard, as a real `coffee-runner health --serve`
process: HEAD answers where GET does (curl -I), an idle client is disconnected, and a
client that resets its connection mid-request or mid-response costs at most one log
line, never a traceback."""

from __future__ import annotations

import os
import re
import signal
import socket
import struct
import subprocess
import sys

import httpx
import pytest
import yaml

from tests.runner.helpers import sim_config, wait_for

IDLE_SECONDS = 0.5


@pytest.fixture
def server(sim, tmp_path, db_url):
    """(base URL, log path) of a `health --serve` on this test's database."""
    path, _ = sim_config(sim, tmp_path)
    doc = yaml.safe_load(path.read_text())
    doc["service"] = {"http_idle_timeout": IDLE_SECONDS}
    path.write_text(yaml.safe_dump(doc))
    log = tmp_path / "serve.log"
    with open(log, "w") as stderr:
        proc = subprocess.Popen([sys.executable, "-m", "runner", "--config", str(path), "health", "--serve",
                                 "--port", "0"], env={**os.environ, "COFFEE_DATABASE_URL": db_url},
                                stdout=subprocess.DEVNULL, stderr=stderr)
    try:
        found = wait_for(lambda: re.search(r"health on http://127\.0\.0\.1:(\d+)", log.read_text()), "the port")
        yield f"http://127.0.0.1:{found.group(1)}", log
    finally:
        proc.send_signal(signal.SIGINT)
        assert proc.wait() == 0, log.read_text()[-2000:]


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST (SO_LINGER 0), as a crashed client or a middlebox does."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def _connect(base: str) -> socket.socket:
    host, port = base.removeprefix("http://").split(":")
    return socket.create_connection((host, int(port)))


def test_head_answers_where_get_does(server):
    base, _ = server
    for route in ("/health", "/metrics", "/", "/static/dashboard.css"):
        head = subprocess.run(["curl", "-sI", f"{base}{route}"], capture_output=True, text=True)
        assert head.returncode == 0, head.stderr
        status = int(head.stdout.split()[1])
        get = httpx.get(f"{base}{route}", timeout=60)
        assert status == get.status_code and status in (200, 503), (route, head.stdout)
        if route.startswith("/static/"):  # a fixed body: HEAD announces its exact length
            length = re.search(r"(?im)^content-length:\s*(\d+)", head.stdout)
            assert length and int(length.group(1)) == len(get.content)
    assert "Traceback" not in server[1].read_text()


def test_resets_and_idle_clients_cost_one_line_at_most(server):
    base, log = server
    half = _connect(base)  # mid-request: the head of a request, then a reset
    half.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n")
    _reset(half)
    wait_for(lambda: "went away" in log.read_text(), "the server to see the reset")
    for _ in range(3):  # mid-response: a whole request for a big page, then a reset before reading
        rude = _connect(base)
        rude.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
        rude.sendall(b"GET /?format=json HTTP/1.1\r\nHost: x\r\n\r\n")
        _reset(rude)
    idle = _connect(base)  # sends nothing: the server hangs up after its idle timeout
    assert idle.recv(1) == b""
    idle.close()
    assert httpx.get(f"{base}/health", timeout=60).status_code in (200, 503)  # still serving
    text = log.read_text()
    assert "Traceback" not in text, text[-3000:]
    assert 1 <= text.count("went away") <= 4, text[-3000:]  # one line per reset at most
