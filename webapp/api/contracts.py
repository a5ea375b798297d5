"""Contracts in the API: the register (search, saved filters, exports), drafts, their documents, history and package."""
from dataclasses import asdict

from flask import Response, g, jsonify, request, url_for

from workflows.actors import is_customer
from workflows.errors import ValidationFailed
from workflows.services.contracts import STATUS_TITLES
from workflows.services.register import RegisterQuery
from workflows.services.history import event_as_dict
from workflows.services.tasks import task_as_dict

from ..downloads import pdf_response, register_export
from . import bp, json_body, json_object, page_args, platform, require_staff


def contract_summary(contract):
    return {
        "id": contract.id, "number": contract.number, "title": contract.title, "template": contract.template,
        "status": contract.status, "status_title": STATUS_TITLES.get(contract.status, contract.status),
        "version": contract.current_version, "customer_name": contract.customer_name, "total": f"{contract.total:.2f}",
        "service_types": [t for t in contract.service_types.split(",") if t], "provider": contract.provider_code,
        "created_by": contract.created_by, "created_at": contract.created_at.isoformat(),
        "updated_at": contract.updated_at.isoformat(),
        "effective_from": contract.effective_from.isoformat() if contract.effective_from else None,
        "effective_to": contract.effective_to.isoformat() if contract.effective_to else None,
    }


def document_state(session, contract):
    return {**platform().signing.document_state(session, contract),
            "document_url": url_for("api.contract_pdf", contract_id=contract.id),
            "package_url": url_for("api.contract_package", contract_id=contract.id)}


def lifecycle(session, contract):
    """After activation: the notice deadline, a notice of non-renewal given, a termination, and (for staff) the
    renewal links both ways and the earliest day a termination given today could take effect."""
    services = platform()
    deadline = services.renewals.notice_deadline(session, contract)
    facts = {"notice_deadline": deadline.isoformat() if deadline else None,
             "non_renewal": {"at": contract.non_renewal_at.isoformat(), "party": contract.non_renewal_party}
             if contract.non_renewal_at else None,
             "terminates_on": contract.terminates_on.isoformat() if contract.terminates_on else None,
             "termination_reason": contract.termination_reason or None}
    if is_customer(g.actor):
        return facts
    earliest = services.termination.earliest(session, contract)
    return {**facts, "earliest_termination": earliest.isoformat() if earliest else None,
            "renewal_of": _link(session, contract.renewal_of_id), "renewed_by": _link(session, contract.renewed_by_id)}


def _link(session, contract_id):
    if contract_id is None:
        return None
    linked = platform().contracts.brief(session, contract_id)
    return {"id": linked["id"], "number": linked["number"], "status": linked["status"]}


def contract_detail(session, contract):
    services = platform()
    data = services.contracts.version_data(session, contract.id, contract.current_version)
    figures = data["figures"]
    letters = services.letters.listing(session, contract)
    detail = {
        **contract_summary(contract),
        "net_amount": figures["net_amount"], "tax_amount": figures["tax_amount"], "tax_rate": figures["tax_rate"],
        "total_in_words": figures["total_in_words"], "net_in_words": figures["net_in_words"],
        "tax_in_words": figures["tax_in_words"], "data": data, "letters": letters,
        "document": document_state(session, contract),
        "signatures": services.signing.evidence(session, g.actor, contract.id),
        "lifecycle": lifecycle(session, contract),
        "links": {"self": url_for("api.get_contract", contract_id=contract.id),
                  "history": url_for("api.contract_history", contract_id=contract.id)},
    }
    if is_customer(g.actor):  # the customer's view: no internal review notes, history or other roles' tasks
        detail["tasks"] = [task_as_dict(t) for t in services.tasks.query(session, roles={"customer"},
                                                                         contract_id=contract.id)]
        return detail
    return {**detail,
            "tasks": [task_as_dict(t) for t in services.tasks.query(session, contract_id=contract.id)],
            "lint": [asdict(f) for f in services.contracts.lint(data, [letter["title"] for letter in letters])],
            "versions": [{"version": v.version, "sha256": v.sha256, "created_by": v.created_by,
                          "created_at": v.created_at.isoformat()} for v in services.contracts.version_list(session, contract.id)],
            "approved_sha256": contract.approved_sha256 or None,
            "history": [event_as_dict(e) for e in services.history.for_contract(session, contract.id)]}


def readable(session, contract_id):
    return platform().access.contract(session, g.actor, contract_id)


@bp.post("/contracts")
def create_contract():
    contract = platform().drafting.create(g.actor, json_body())
    with platform().db.read() as session:
        payload = contract_detail(session, platform().contracts.get(session, contract.id))
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = payload["links"]["self"]
    return response


@bp.get("/contracts")
def list_contracts():
    """The register: the contracts the caller may see that match the query arguments, newest first, paged."""
    limit, offset = page_args()
    query = RegisterQuery.parse(request.args)
    with platform().db.read() as session:
        found = platform().register.page(session, g.actor, query, limit=limit, offset=offset)
        return jsonify({"items": [contract_summary(c) for c in found.items], "total": found.total,
                        "total_exact": found.exact, "limit": limit, "offset": offset})


@bp.get("/contracts/export.csv", defaults={"kind": "csv"})
@bp.get("/contracts/export.xlsx", defaults={"kind": "xlsx"})
def export_contracts(kind):
    """The register's search as CSV or XLSX (staff; at most EXPORT_LIMIT rows, else 422)."""
    require_staff()
    query = RegisterQuery.parse(request.args)
    with platform().db.read() as session:
        items, names = platform().register.export(session, g.actor, query)
    return register_export(kind, items, names)


def filter_as_dict(saved):
    return {"id": saved.id, "name": saved.name, "query": saved.query, "created_at": saved.created_at.isoformat(),
            "contracts_url": url_for("api.list_contracts") + "?" + saved.query}


@bp.get("/contracts/filters")
def list_saved_filters():
    return jsonify({"items": [filter_as_dict(saved) for saved in platform().register.saved_filters(g.actor)]})


@bp.post("/contracts/filters")
def save_filter():
    """Save a search (``query``: the query string of GET /contracts) under a ``name``; the same name replaces it."""
    body = json_object()
    query = body.get("query", "")
    if not isinstance(query, str):
        raise ValidationFailed("query is the query string of a search", {"query": "expected a string"})
    saved = platform().register.save_filter(g.actor, body.get("name"), RegisterQuery.from_query_string(query))
    response = jsonify(filter_as_dict(saved))
    response.status_code = 201
    return response


@bp.delete("/contracts/filters/<int:filter_id>")
def delete_saved_filter(filter_id):
    platform().register.delete_filter(g.actor, filter_id)
    return "", 204


@bp.get("/contracts/<int:contract_id>")
def get_contract(contract_id):
    with platform().db.read() as session:
        return jsonify(contract_detail(session, readable(session, contract_id)))


@bp.patch("/contracts/<int:contract_id>")
def update_contract(contract_id):
    platform().drafting.revise(g.actor, contract_id, json_body())
    with platform().db.read() as session:
        return jsonify(contract_detail(session, platform().contracts.get(session, contract_id)))


@bp.post("/contracts/<int:contract_id>/submit")
def submit_contract(contract_id):
    body = json_body()
    comment = body.get("comment", "") if isinstance(body, dict) else ""
    platform().approval.submit(g.actor, contract_id, comment)
    with platform().db.read() as session:
        return jsonify(contract_detail(session, platform().contracts.get(session, contract_id)))


@bp.get("/contracts/<int:contract_id>/history")
def contract_history(contract_id):
    require_staff()
    with platform().db.read() as session:
        readable(session, contract_id)
        return jsonify({"items": [event_as_dict(e) for e in platform().history.for_contract(session, contract_id)]})


@bp.get("/contracts/<int:contract_id>/audit")
def contract_audit(contract_id):
    """Recompute the contract's hash-chained audit trail; names the first broken link."""
    require_staff()
    with platform().db.read() as session:
        readable(session, contract_id)
        return jsonify(asdict(platform().history.audit(session, contract_id)))


@bp.get("/contracts/<int:contract_id>/versions/<int:version>")
def contract_version(contract_id, version):
    require_staff()
    with platform().db.read() as session:
        readable(session, contract_id)
        return jsonify({"version": version, "data": platform().contracts.version_data(session, contract_id, version)})


@bp.get("/contracts/<int:contract_id>/document.html")
def contract_html(contract_id):
    """The contract with its letters as one HTML page: what reviewers read, with the customer's values once filled."""
    with platform().db.read() as session:
        html = platform().documents.html(session, readable(session, contract_id))
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
    return response


@bp.get("/contracts/<int:contract_id>/document.pdf")
def contract_pdf(contract_id):
    """The current PDF of the signing chain once there is one (signed, with every signature), else a rendering."""
    with platform().db.read() as session:
        download = platform().documents.readable_pdf(session, readable(session, contract_id))
    return pdf_response(download, "inline")


@bp.get("/contracts/<int:contract_id>/package.pdf")
def contract_package(contract_id):
    """The final package of an active contract, built once after activation; 202 while it is being built."""
    with platform().db.read() as session:
        download = platform().documents.package_download(session, readable(session, contract_id))
    if download is None:
        response = jsonify({"status": "preparing", "message": "the package is being built; try again shortly"})
        response.status_code = 202
        response.headers["Retry-After"] = "2"
        return response
    return pdf_response(download, "attachment")
