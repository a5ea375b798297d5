"""Public verification page: upload a signed PDF, see each signature's verdict and whether it is on record."""
import threading
import time
from collections import defaultdict, deque

from flask import Blueprint, current_app, render_template, request

from workflows.signing import PDF_MAGIC

bp = Blueprint("verify", __name__)
MAX_UPLOAD = 20 * 1024 * 1024
RATE_WINDOW, RATE_MAX = 60.0, 10  # uploads per address per minute (naive, per process)
_lock = threading.Lock()
_recent = defaultdict(deque)


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
    report, records = current_app.extensions["qianyue"].signing.verify(data)
    return render_template("verify.html", report=report, error=None, records=records, filename=upload.filename)
