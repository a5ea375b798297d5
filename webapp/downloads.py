"""A document as an HTTP answer, the same from the API, the staff pages and the customer's pages."""
from flask import Response

from workflows.contracts.export import contracts_csv, contracts_xlsx
from workflows.services.contracts import STATUS_TITLES

REGISTER_EXPORTS = {"csv": (contracts_csv, "text/csv"),
                    "xlsx": (contracts_xlsx, "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")}


def pdf_response(download, disposition="inline"):
    """``download`` (``workflows.services.documents.Download``) with its file name and SHA-256 in the headers."""
    return Response(download.pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'{disposition}; filename="{download.filename}"', "X-Document-SHA256": download.sha256})


def register_export(kind, contracts, names):
    """The register's search as a file to save (``kind``: csv or xlsx): ``names`` names the people it shows."""
    write, mimetype = REGISTER_EXPORTS[kind]
    return Response(write(contracts, STATUS_TITLES, names), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="contracts.{kind}"'})
