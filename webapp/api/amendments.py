"""Amendments in the API: propose a change of an active contract, answer one, read the terms in force with their
history."""
from flask import g, jsonify, url_for

from workflows.errors import ValidationFailed

from ..downloads import pdf_response
from . import bp, json_object, platform
from .signing import origin, signature_input


@bp.get("/contracts/<int:contract_id>/amendments")
def list_amendments(contract_id):
    """Every amendment of the contract, oldest first."""
    with platform().db.read() as session:
        return jsonify({"items": platform().amendments.list(session, g.actor, contract_id)})


@bp.post("/contracts/<int:contract_id>/amendments")
def propose_amendment(contract_id):
    """Either side proposes a change: ``{"changes": {...}, "reason": "..."}``; 201 with the amendment."""
    amendment = platform().amendments.propose(g.actor, contract_id, json_object())
    response = jsonify(amendment)
    response.status_code = 201
    response.headers["Location"] = url_for("api.get_amendment", contract_id=contract_id, number=amendment["number"])
    return response


@bp.get("/contracts/<int:contract_id>/amendments/<int:number>")
def get_amendment(contract_id, number):
    with platform().db.read() as session:
        return jsonify(platform().amendments.get(session, g.actor, contract_id, number))


@bp.post("/contracts/<int:contract_id>/amendments/<int:number>/answer")
def answer_amendment(contract_id, number):
    """The other side agrees or refuses: ``{"decision": "agree" | "refuse", "comment": "...", "version": n}``."""
    body = json_object()
    version = body.get("version")
    if version is not None and (isinstance(version, bool) or not isinstance(version, int)):
        raise ValidationFailed("the version must be a whole number", {"version": "应为整数（读取时的 version）"})
    return jsonify(platform().amendments.answer(g.actor, contract_id, number, body.get("decision"),
                                                body.get("comment", ""), version))


@bp.get("/contracts/<int:contract_id>/terms")
def effective_terms(contract_id):
    """The terms in force: the signed contract with every amendment in force applied, and each change's history."""
    with platform().db.read() as session:
        contract = platform().access.contract(session, g.actor, contract_id)
        return jsonify(terms_as_dict(platform().amendments.effective_terms(session, contract)))


def terms_as_dict(terms):
    data = terms["data"]
    return {"amended": bool(terms["history"]), "items": data["items"], "total": data["figures"]["total"],
            "net_amount": data["figures"]["net_amount"], "tax_amount": data["figures"]["tax_amount"],
            "payment_plan": data["payment_plan"], "schedule": data["figures"]["schedule"], "term": data["term"],
            "clauses": terms["clauses"], "history": terms["history"]}


@bp.post("/contracts/<int:contract_id>/amendments/<int:number>/intent")
def amendment_intent(contract_id, number):
    """A one-time code for the caller's signature on the 补充协议 (201), once it is ready and waits for their side."""
    response = jsonify(platform().supplements.request_intent(g.actor, contract_id, number))
    response.status_code = 201
    return response


@bp.post("/contracts/<int:contract_id>/amendments/<int:number>/sign")
def sign_amendment(contract_id, number):
    """The caller's side signs the 补充协议: ``document_sha256`` (as read), ``intent_code``, and for the customer
    ``consent`` and ``method`` (typed_name or image), as the contract is signed; returns the amendment."""
    return jsonify(platform().supplements.sign(g.actor, contract_id, number, signature_input(json_object()), origin()))


@bp.get("/contracts/<int:contract_id>/amendments/<int:number>/document")
def amendment_document(contract_id, number):
    """The 补充协议's PDF: certified to sign, then with every signature so far (``X-Document-SHA256``)."""
    with platform().db.read() as session:
        download = platform().supplements.download(session, g.actor, contract_id, number)
    return pdf_response(download, "inline")
