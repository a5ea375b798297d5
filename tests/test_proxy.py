"""The HAProxy configuration `scripts/cluster` writes, run against a stand-in node that dies at chosen moments: what a
client sees when a node is killed mid-response is a whole 503 with Retry-After, never a cut response."""
import runpy
import socket
import subprocess
import threading
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
CLUSTER = runpy.run_path(str(ROOT / "scripts" / "cluster"), run_name="cluster")


class StandInNode:
    """A TCP server that answers every request with ``headers`` and the first ``sent`` bytes of a ``length``-byte body,
    then closes, as a gunicorn worker killed between its writes leaves the connection."""

    def __init__(self):
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.length, self.sent = 0, 0
        threading.Thread(target=self.serve, daemon=True).start()

    def answer(self, length, sent):
        self.length, self.sent = length, sent

    def serve(self):
        while True:
            connection, _ = self.server.accept()
            with connection:
                request = connection.recv(65536)
                connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                                   b"Content-Length: %d\r\nConnection: close\r\n\r\n" % self.length)
                if not request.startswith(b"HEAD"):
                    connection.sendall(b"x" * self.sent)
                time.sleep(0.1)


@pytest.fixture(scope="module")
def proxy(tmp_path_factory):
    folder = tmp_path_factory.mktemp("proxy")
    node = StandInNode()
    port = CLUSTER["free_port"]()
    config = CLUSTER["haproxy_config"](folder, port, [("node1", node.port)]).replace(" check\n", "\n")  # always up
    (folder / "haproxy.cfg").write_text(config)
    process = subprocess.Popen(["haproxy", "-db", "-f", str(folder / "haproxy.cfg")],
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/api/contracts"
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            assert process.poll() is None, process.stdout.read().decode()
            time.sleep(0.05)
    yield node, url
    process.terminate()
    process.wait(10)


@pytest.mark.parametrize("sent", [0, 1000])
def test_a_node_dying_after_the_headers_costs_the_client_a_503_not_a_cut_response(proxy, sent):
    node, url = proxy
    node.answer(2260, sent)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "5"
    assert answer.json()["error"] == "unavailable"


def test_whole_answers_and_head_requests_pass_through_unchanged(proxy):
    node, url = proxy
    node.answer(2260, 2260)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and answer.content == b"x" * 2260
    head = requests.head(url, timeout=10)
    assert head.status_code == 200 and head.headers["Content-Length"] == "2260"


def test_a_body_larger_than_the_proxy_holds_streams_as_it_comes(proxy):
    node, url = proxy
    length = CLUSTER["WHOLE_BODY"] * 4  # a signed package: not held, so a cut one stays a cut download
    node.answer(length, length)
    answer = requests.get(url, timeout=10)
    assert answer.status_code == 200 and len(answer.content) == length
