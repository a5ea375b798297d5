"""RFC 3161 responder (accepted by openssl ts -verify, and over HTTP) and seal images."""
import io
import struct
import subprocess
import sys
import threading
import time
import tracemalloc
import zlib

import pytest
from asn1crypto import core, tsp
from cryptography.hazmat.primitives import serialization
from PIL import Image
from werkzeug.serving import make_server

from workflows.signing import seals
from workflows.signing import pdf as pades
from workflows.signing.tsa import TimestampAuthority, timestamper_for


def _query(tmp_path, data=b"hello"):
    (tmp_path / "data.txt").write_bytes(data)
    subprocess.run(["openssl", "ts", "-query", "-data", str(tmp_path / "data.txt"), "-sha256", "-cert",
                    "-out", str(tmp_path / "q.tsq")], check=True, capture_output=True)
    return (tmp_path / "q.tsq").read_bytes()


def test_openssl_accepts_a_token(pki, tmp_path):
    reply = TimestampAuthority(pki.tsa).respond(_query(tmp_path))
    (tmp_path / "r.tsr").write_bytes(reply)
    (tmp_path / "root.pem").write_bytes(pki.root_pem())
    (tmp_path / "chain.pem").write_bytes(pki.issuing.cert.public_bytes(serialization.Encoding.PEM))
    result = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "data.txt"), "-in",
                             str(tmp_path / "r.tsr"), "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                             str(tmp_path / "chain.pem")], capture_output=True, text=True)
    assert "Verification: OK" in result.stdout, result.stdout + result.stderr
    (tmp_path / "data.txt").write_bytes(b"hellO")
    result = subprocess.run(["openssl", "ts", "-verify", "-data", str(tmp_path / "data.txt"), "-in",
                             str(tmp_path / "r.tsr"), "-CAfile", str(tmp_path / "root.pem"), "-untrusted",
                             str(tmp_path / "chain.pem")], capture_output=True, text=True)
    assert "Verification: OK" not in result.stdout


def test_one_authority_answers_threads_at_once(pki, tmp_path):
    """Signing acts run in parallel request threads against one in-process TSA (a race once answered 500)."""
    authority, request = TimestampAuthority(pki.tsa), _query(tmp_path)
    barrier, failures, statuses = threading.Barrier(4), [], []

    def respond_many():
        barrier.wait()
        for _ in range(15):
            try:
                statuses.append(tsp.TimeStampResp.load(authority.respond(request))["status"]["status"].native)
            except Exception as error:  # noqa: BLE001  the failure under test
                failures.append(repr(error))
    threads = [threading.Thread(target=respond_many) for _ in range(4)]
    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads take turns every few bytecodes, so an unsafe interleaving shows at once
    try:
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        sys.setswitchinterval(switch_interval)
    assert failures == [] and statuses == ["granted"] * 60


def test_malformed_request_is_rejected(pki):
    reply = core.Sequence.load(TimestampAuthority(pki.tsa).respond(b"\x30\x03garbage"))
    status = tsp.PKIStatusInfo.load(reply[0].dump())
    assert status["status"].native == "rejection" and len(reply) == 1


def test_tsa_over_http_answers_staff_tokens_only(api, tmp_path):
    query = _query(tmp_path)
    anonymous = api.client.post("/tsa", data=query, content_type="application/timestamp-query")
    assert anonymous.status_code == 401 and anonymous.headers["WWW-Authenticate"].startswith("Bearer")
    for user, status in (("customer", 403), ("legal", 200)):
        response = api.client.post("/tsa", data=query, content_type="application/timestamp-query",
                                   headers={"Authorization": f"Bearer {api.token(user)}"})
        assert response.status_code == status, user
    assert response.mimetype == "application/timestamp-reply"
    assert tsp.TimeStampResp.load(response.data)["status"]["status"].native == "granted"
    assert api.client.post("/tsa", data=b"x", content_type="text/plain",
                           headers={"Authorization": f"Bearer {api.token('legal')}"}).status_code == 415


def test_round_seal_is_a_transparent_red_png():
    image = Image.open(io.BytesIO(seals.round_seal_png("中国电信股份有限公司福州分公司", size=300)))
    assert image.format == "PNG" and image.size == (300, 300) and image.mode == "RGBA"
    assert image.getpixel((0, 0))[3] == 0  # transparent corner
    grid = [image.getpixel((x, y)) for x in range(0, 300, 3) for y in range(0, 300, 3)]
    red = [p for p in grid if p[3] > 200]
    assert red and all(p[0] > 150 and p[1] < 90 for p in red)


def _png(size, fmt="PNG"):
    out = io.BytesIO()
    Image.new("RGBA", size, (200, 0, 0, 255)).save(out, format=fmt)
    return out.getvalue()


def test_an_image_a_signer_sends_is_checked():
    assert seals.image_problem(_png((300, 300))) is None
    for bad in (None, _png((300, 300), "GIF"), _png((5000, 300)), b"\x89PNG\r\n\x1a\nbroken",
                seals.PNG_MAGIC + b"\0" * (1024 * 1024 + 1)):
        assert seals.image_problem(bad), bad[:20] if bad else bad


def _decompression_bomb(side=13000):
    """A valid grey PNG of side x side pixels in a few KB: zeros compress a thousandfold."""
    def chunk(kind, body):
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
    squeeze, row, data = zlib.compressobj(9), b"\0" * (side + 1), []
    for _ in range(side):
        data.append(squeeze.compress(row))
    data.append(squeeze.flush())
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return seals.PNG_MAGIC + chunk(b"IHDR", header) + chunk(b"IDAT", b"".join(data)) + chunk(b"IEND", b"")


def test_an_image_is_measured_before_it_is_decoded():
    bomb = _decompression_bomb()
    assert len(bomb) < seals.MAX_UPLOAD
    tracemalloc.start()
    started = time.perf_counter()
    problem = seals.image_problem(bomb)
    elapsed = time.perf_counter() - started
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert problem == "the image must be at most 4000 pixels on each side"
    assert elapsed < 0.2 and peak < 5 * len(bomb) + 1024 * 1024, (elapsed, peak)


def test_typed_signature_image():
    image = Image.open(io.BytesIO(seals.signature_image_from_text("张三")))
    assert image.size == (480, 160) and image.getbbox() is not None


@pytest.mark.slow
def test_pyhanko_http_timestamper_against_our_tsa_endpoint(app, platform, pki, signing, contract_pdf):
    """TSA_URL and TSA_TOKEN configured: pyHanko's HTTP client talks to POST /tsa (the app served by werkzeug in a
    thread) with the token."""
    platform.use_toolkit(signing)
    with platform.db.write() as session:
        token = platform.accounts.create_token(session, "signatory")
    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        timestamper = timestamper_for(f"http://127.0.0.1:{server.server_port}/tsa", signing.authority, token)
        assert type(timestamper).__name__ == "HTTPTimeStamper"
        stamped = pades.timestamp(pades.certify(contract_pdf, [], pki), timestamper, pki)
    finally:
        server.shutdown()
        thread.join(5)
    report = signing.verify(stamped)
    assert report.valid and [s.kind for s in report.signatures] == ["signature", "timestamp"]
