"""Public verification page: upload a signed PDF, see each signature's verdict and whether it is on record.

Uploads are rate-limited per address in ``limits.py`` (storage shared by every process and node)."""
from flask import Blueprint, current_app, render_template, request

from workflows.signing import PDF_MAGIC
from workflows.signing.pdf import CERTIFICATION_FIELD

bp = Blueprint("verify", __name__)
MAX_UPLOAD = 20 * 1024 * 1024


@bp.route("/verify", methods=["GET", "POST"])
def verify_page():
    if request.method == "GET":
        return render_template("verify.html", report=None, error=None, records=None)
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
    return render_template("verify.html", report=report, error=None, records=records, filename=upload.filename,
                           fields=field_names(records))


def field_names(records):
    """Whose each signature field is: the platform's certification, and the signers' fields as on record for the
    contract the file matches (a file on no record keeps the bare field names)."""
    names = {CERTIFICATION_FIELD: "平台认证"}
    for record in records:
        names.update(record["fields"])
    return names
