"""What signing costs: the customer's signing act and the provider's countersignature as HTTP requests, next to the
PAdES work inside them, and each piece of that work alone; measured in one run on this machine.

    .venv/bin/python bench/signing.py [N]

Requests: the app behind a real threaded HTTP server on SQLite (a fresh migrated, seeded database), N seed-003-like
technical service contracts driven to the customer's step through the use cases, their letters filled and their
documents prepared by the job (not timed: that is the worker's); then, timed, the customer's ``POST /contracts/{id}/sign``
(the contract and its letter: two PAdES signatures, the evidence, the task, one transaction) and the signatory's
``POST /tasks/{id}/complete`` with ``sign`` (signatory and seal: two signatures, activation). Goal: p95 ≤ 1 s each.
Pieces, on the certified contract PDF: the baseline is an invisible signature without timestamp or validation data
(pyHanko's floor); then certify, one visible signature, a document timestamp, finalize, verify. Goal: median < 200 ms.
"""
import http.client
import io
import json
import logging
import statistics
import sys
import tempfile
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import signers
from pyhanko.sign.fields import SigSeedSubFilter
from werkzeug.serving import make_server

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from webapp import create_app  # noqa: E402
from workflows import demo, migrate  # noqa: E402
from workflows.documents import render_document_pdf  # noqa: E402
from workflows.signing import pdf as pades  # noqa: E402
from workflows.signing import seals  # noqa: E402

PIECE_GOAL, REQUEST_GOAL = 0.200, 1.000
SECURITY_VALUES = {"values": {"security_officer_name": "徐永立", "security_officer_title": "校长",
                              "security_officer_contact": "0373-8887111"}}


def stats(seconds):
    ordered = sorted(seconds)
    return statistics.median(ordered), ordered[max(int(len(ordered) * 0.95) - 1, 0)]


def timings(run, runs):
    output = run()
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        output = run()
        seconds.append(time.perf_counter() - started)
    return seconds, output


class Client:
    """Bearer-token JSON calls over one keep-alive connection."""

    def __init__(self, port, token):
        self.connection, self.token = http.client.HTTPConnection("127.0.0.1", port), token

    def call(self, method, path, body=None):
        self.connection.request(method, "/api/v1" + path, body=None if body is None else json.dumps(body),
                                headers={"Authorization": f"Bearer {self.token}", "Content-Type": "application/json"})
        response = self.connection.getresponse()
        answer = json.loads(response.read() or b"null")
        assert response.status in (200, 201), (method, path, response.status, answer)
        return answer


def requests(runs):
    """(the customer's act, the countersignature) in seconds per request, and the in-process PAdES of each act."""
    folder = Path(tempfile.mkdtemp())
    app = create_app({"DATABASE_URL": f"sqlite:///{folder / 'bench.db'}", "SECRET_KEY": "bench",
                      "APP_ENV": "development", "INSTANCE_PATH": str(folder)})
    platform = app.extensions["qianyue"]
    migrate.upgrade(platform.db)
    demo.seed(platform)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with platform.db.write() as session:
        users = {user: platform.accounts.get(session, user) for user in ("sales", "legal", "finance")}
    draft = json.loads((REPO / "tests" / "fixtures" / "contract-technical-service.json").read_text(encoding="utf-8"))
    signing, countersigning = [], []
    for run in range(runs + 1):  # the first of each warms the caches and is not counted
        with platform.db.write() as session:  # signers of their own: each may ask for 5 codes an hour
            platform.accounts.create_user(session, f"school-{run}", ["customer"], "bench-password", "徐永立",
                                          f"school-{run}@school.example", draft["customer"]["credit_code"])
            platform.accounts.create_user(session, f"signatory-{run}", ["provider"], "bench-password", "陈志强",
                                          f"signatory-{run}@provider.example")
            customer = Client(server.server_port, platform.accounts.create_token(session, f"school-{run}"))
            signatory = Client(server.server_port, platform.accounts.create_token(session, f"signatory-{run}"))
        contract = platform.drafting.create(users["sales"], draft)
        platform.approval.submit(users["sales"], contract.id)
        for role in ("legal", "finance"):
            with platform.db.read() as session:
                (task,) = platform.tasks.query(session, roles={role}, contract_id=contract.id)
            platform.approval.decide(users[role], task.id, "approve")
        customer.call("PUT", f"/contracts/{contract.id}/letters/information_security", SECURITY_VALUES)
        platform.jobs.run_pending("bench")
        state = customer.call("GET", f"/contracts/{contract.id}/signing")
        customer.call("POST", f"/contracts/{contract.id}/intent")
        with platform.db.read() as session:
            code = platform.signing.last_code(session, contract.id)
        started = time.perf_counter()
        customer.call("POST", f"/contracts/{contract.id}/sign", {
            "document_sha256": state["document_sha256"], "method": "typed", "typed_name": "徐永立", "consent": True,
            "intent_code": code})
        signing.append(time.perf_counter() - started)
        (task,) = signatory.call("GET", f"/tasks?contract_id={contract.id}")["items"]
        digest = signatory.call("GET", f"/contracts/{contract.id}")["document"]["document_sha256"]
        signatory.call("POST", f"/tasks/{task['id']}/intent")
        with platform.db.read() as session:
            code = platform.signing.last_code(session, contract.id)
        started = time.perf_counter()
        answer = signatory.call("POST", f"/tasks/{task['id']}/complete",
                                {"decision": "sign", "document_sha256": digest, "intent_code": code})
        countersigning.append(time.perf_counter() - started)
        assert answer["contract"]["status"] == "active", answer
    server.shutdown()
    return signing[1:], countersigning[1:], platform


def pieces(platform, runs):
    """Each piece of PAdES work alone, on the certified technical service contract with its letter."""
    toolkit = platform.toolkit()
    with platform.db.read() as session:
        contract = platform.contracts.search(session, limit=1)[0][0]
        document = platform.documents.document(session, contract)
    pdf, places = render_document_pdf(document)
    by_field = {place.field_name: place for place in places}
    certified = toolkit.certify(pdf, places)
    when = datetime.now(timezone.utc)
    signer = toolkit.person("张三", "https://id.example.com|u-1", "长垣市第一中学", "12410728417309214T")
    customer = by_field["customer"]
    stamp = seals.place_stamp_png(customer.size, dict(customer.areas), when,
                                  mark_png=seals.signature_image_from_text("张三"))
    results = {
        "baseline: invisible signature, no timestamp, no LTV": timings(
            lambda: _invisible(certified, signer, toolkit.pki), runs)[0],
        "certify (every field, DocMDP, timestamped)": timings(lambda: toolkit.certify(pdf, places), runs)[0],
        "one visible signature (stamp, timestamp, B-LT)": timings(
            lambda: toolkit.sign(certified, "customer", signer, stamp, "张三", "甲方签署"), runs)[0],
        "a signer's certificate for one field (EC P-256)": timings(
            lambda: toolkit.person("张三", "https://id.example.com|u-1", "长垣市第一中学"), runs)[0],
        "the stamp of a place (mark and China date drawn in)": timings(
            lambda: seals.place_stamp_png(customer.size, dict(customer.areas), when,
                                          mark_png=seals.signature_image_from_text("张三")), runs)[0],
    }
    signed = toolkit.sign(certified, "customer", signer, stamp, "张三", "甲方签署")
    results["document timestamp (B-LTA)"] = timings(lambda: pades.timestamp(signed, toolkit.timestamper, toolkit.pki),
                                                    runs)[0]
    data = {"contract": {"number": "N", "title": "T", "customer": "C", "provider": "P"}, "sha256_before": "0" * 64,
            "audit_head": "0" * 64, "signers": [], "verify_url": "http://127.0.0.1:5000/verify"}
    results["finalize (document timestamp + certificate + package, certified, timestamped)"] = timings(
        lambda: toolkit.finalize(signed, data), max(3, runs // 4))[0]
    package = toolkit.finalize(signed, data)[1]
    seconds, report = timings(lambda: toolkit.verify(package), runs)
    assert report.valid, report.problems
    results[f"verify a finished package ({len(report.signatures)} signatures)"] = seconds
    return results, len(pdf), len(package)


def _invisible(certified, signer, pki):
    meta = signers.PdfSignatureMetadata(field_name="customer", subfilter=SigSeedSubFilter.PADES, md_algorithm="sha256")
    out = io.BytesIO()
    signers.PdfSigner(meta, pades.simple_signer(signer.cert, signer.key, pki)).sign_pdf(
        IncrementalPdfFileWriter(io.BytesIO(certified), strict=False), existing_fields_only=True, output=out)
    return out.getvalue()


def main(runs):
    logging.getLogger("pyhanko").setLevel(logging.ERROR)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    signing, countersigning, platform = requests(runs)
    results, pdf_size, package_size = pieces(platform, runs)
    baseline = statistics.median(results["baseline: invisible signature, no timestamp, no LTV"])
    visible = statistics.median(results["one visible signature (stamp, timestamp, B-LT)"])
    print(f"contract with its letter {pdf_size // 1024} KB, package {package_size // 1024} KB, {runs} runs each")
    for name, seconds in results.items():
        median, p95 = stats(seconds)
        goal = "" if "finalize" in name or "baseline" in name else ("  ok" if median < PIECE_GOAL else "  OVER GOAL")
        print(f"{name:82s} median {median * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms  x{median / baseline:5.1f}{goal}")
    for name, seconds, fields in (("the customer's act: POST /contracts/{id}/sign (contract + letter)", signing, 2),
                                  ("the countersignature: POST /tasks/{id}/complete sign (signatory + seal)",
                                   countersigning, 2)):
        median, p95 = stats(seconds)
        print(f"{name:82s} median {median * 1000:7.1f} ms  p95 {p95 * 1000:7.1f} ms"
              f"  (in-process PAdES {fields} x {visible * 1000:.0f} ms){'  ok' if p95 <= REQUEST_GOAL else '  OVER GOAL'}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20)
