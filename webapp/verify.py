"""Public verification page: upload a signed PDF, see each signature's verdict and whether it is on record.

Also home of ``signing_service(app)``: the deployment's SigningService, created once per app (PKI from the
database, under the licensed CA of ``SIGNING_CA_*`` if any; TSA_URL from the config or the environment, else
the built-in TSA).
"""
import os
import threading
import time
from collections import defaultdict, deque

from flask import Blueprint, current_app, render_template, request

from workflows.signing.service import SigningService
from workflows.signing.verify import PDF_MAGIC

bp = Blueprint("verify", __name__)
MAX_UPLOAD = 20 * 1024 * 1024
RATE_WINDOW, RATE_MAX = 60.0, 10  # uploads per address per minute (naive, per process)
_lock = threading.Lock()
_recent = defaultdict(deque)


def signing_service(app=None) -> SigningService:
    app = app or current_app._get_current_object()
    service = app.extensions.get("qianyue_signing")
    if service is None:
        with _lock:
            service = app.extensions.get("qianyue_signing")
            if service is None:
                service = SigningService.from_settings(
                    app.extensions["qianyue"], app.config["INSTANCE_PATH"], app.config["APP_ENV"],
                    tsa_url=app.config.get("TSA_URL") or os.environ.get("TSA_URL"),
                    licensed=app.config.get("SIGNING_CA"))
                app.extensions["qianyue_signing"] = service
    return service


def _rate_limited(address):
    now = time.monotonic()
    with _lock:
        recent = _recent[address]
        while recent and recent[0] < now - RATE_WINDOW:
            recent.popleft()
        if len(recent) >= RATE_MAX:
            return True
        recent.append(now)
        if len(_recent) > 10000:  # forget idle addresses
            for key in [k for k, v in _recent.items() if not v]:
                del _recent[key]
    return False


def records_for(report):
    """Contracts on record whose produced PDF has the uploaded file's (or the embedded contract's) SHA-256."""
    platform = current_app.extensions["qianyue"]
    digests = [d for d in (report.document_sha256, report.embedded_sha256) if d]
    with platform.db.read() as session:
        rows = [r for d in digests for r in signing_service().find_on_record(session, d)]
        contracts = {}
        for row in rows:
            from workflows.models import Contract
            contract = session.get(Contract, row.contract_id)
            if contract:
                contracts[contract.id] = {"number": contract.number, "title": contract.title, "kind": row.kind}
    return list(contracts.values())


@bp.route("/verify", methods=["GET", "POST"])
def verify_page():
    if request.method == "GET":
        return render_template("verify.html", report=None, error=None, records=None)
    if _rate_limited(request.remote_addr or "?"):
        return render_template("verify.html", report=None, records=None,
                               error="请求过于频繁，请稍后再试。Too many uploads; try again in a minute."), 429
    if (request.content_length or 0) > MAX_UPLOAD:
        return render_template("verify.html", report=None, records=None,
                               error="文件超过 20 MB。The file is larger than 20 MB."), 413
    upload = request.files.get("file")
    data = upload.read(MAX_UPLOAD + 1) if upload else b""
    if len(data) > MAX_UPLOAD:
        return render_template("verify.html", report=None, records=None,
                               error="文件超过 20 MB。The file is larger than 20 MB."), 413
    if not data.startswith(PDF_MAGIC):
        return render_template("verify.html", report=None, records=None,
                               error="请上传 PDF 文件。Please upload a PDF file."), 422
    report = signing_service().verify(data)
    return render_template("verify.html", report=report, error=None, records=records_for(report),
                           filename=upload.filename)
