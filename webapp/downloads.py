"""A document as an HTTP answer, the same from the API, the staff pages and the customer's pages."""
from flask import Response


def pdf_response(download, disposition="inline"):
    """``download`` (``workflows.services.documents.Download``) with its file name and SHA-256 in the headers."""
    return Response(download.pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{download.filename}"', "X-Document-SHA256": download.sha256})
