"""API routes for the commitment letters: list, fill, sign, documents; and the final package of an active contract."""
import hashlib

from flask import Response, g, jsonify

from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.models import Signature
from workflows.services.customers import png_from_data_url

from . import STAFF_ROLES, bp, json_body, platform, require_role
from .routes import load_contract


def _letters(session, contract):
    services = platform()
    data = services.contracts.version_data(session, contract.id, contract.current_version)
    missing = services.letters.missing(session, contract.id) if contract.status in ("awaiting_customer", "countersigning") else {}
    return {"items": services.contracts.letters(session, contract, data), "activation_missing": missing}


def _item(session, contract, code):
    return next(i for i in _letters(session, contract)["items"] if i["code"] == code)


def _signer():
    user = g.user
    return {"actor": user.username, "identity_id": None, "issuer": "qianyue:staff", "subject": user.username,
            "name": user.display_name or user.username, "email": user.email or ""}


@bp.get("/contracts/<int:contract_id>/letters")
def contract_letters(contract_id):
    with platform().db.read() as session:
        return jsonify(_letters(session, load_contract(session, contract_id)))


@bp.put("/contracts/<int:contract_id>/letters/<code>")
def fill_letter(contract_id, code):
    require_role("customer")
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("values", {}), dict):
        raise ValidationFailed("send {\"values\": {field: text}}", {"values": "an object of field values"})
    with platform().db.read() as session:
        load_contract(session, contract_id)
    platform().letters.fill(platform().db, contract_id, code, body.get("values", {}), g.user.username)
    with platform().db.read() as session:
        return jsonify(_item(session, load_contract(session, contract_id), code))


@bp.post("/contracts/<int:contract_id>/letters/<code>/sign")
def sign_letter(contract_id, code):
    require_role("customer")
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object", {"": "expected an object"})
    image = png_from_data_url(body.get("image")) if body.get("method") in ("drawn", "seal") else None
    from flask import request
    from ..security import client_ip
    from ..signing_flow import sign_letter_pdf, signature_evidence, staff_signer, store
    with platform().db.read() as session:
        contract = load_contract(session, contract_id)
    signer = staff_signer(g.user)
    pades = sign_letter_pdf(contract, code, signer, body.get("document_sha256"), body.get("consent") is True,
                            body.get("intent_code"), body.get("method"), body.get("typed_name", ""), image, client_ip(),
                            request.user_agent.string)
    with platform().db.write() as session:
        load_contract(session, contract_id)
        if pades["pdf"] is not None:
            store(session, contract_id, f"signed:letter:{code}"[:40], pades["base"], pades["pdf"])
        letter = platform().letters.sign(session, contract_id, code, _signer(), document_sha256=body.get("document_sha256"),
                                         method=body.get("method"), consent=body.get("consent") is True,
                                         typed_name=body.get("typed_name", ""), image_png=image, ip=client_ip(),
                                         user_agent=request.user_agent.string)
        signature_evidence(session.get(Signature, letter.signature_id), pades["record"], pades["intent"], pades["pdf"])
    with platform().db.read() as session:
        return jsonify(_item(session, load_contract(session, contract_id), code))


@bp.get("/contracts/<int:contract_id>/letters/<code>/document.html")
def letter_html(contract_id, code):
    with platform().db.read() as session:
        html = platform().letters.html(session, load_contract(session, contract_id), code)
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    return response


@bp.get("/contracts/<int:contract_id>/letters/<code>/document.pdf")
def letter_pdf(contract_id, code):
    """The filled letter's exact bytes (what is signed); before it is filled, a blank preview."""
    with platform().db.read() as session:
        contract = load_contract(session, contract_id)
        letter = platform().letters.get(session, contract.id, code)
        pdf = letter.document_pdf
        html = None if pdf else platform().letters.html(session, contract, code)
    pdf = pdf or platform().letters.render_pdf(html)
    return Response(pdf, mimetype="application/pdf", headers={
        "Content-Disposition": f'inline; filename="{contract.number}-{code}.pdf"',
        "X-Document-SHA256": hashlib.sha256(pdf).hexdigest()})


@bp.post("/contracts/<int:contract_id>/intent")
def request_contract_intent_code(contract_id):
    """The customer asks for a one-time code to sign a commitment letter (the contract itself: /tasks/{id}/intent)."""
    require_role("customer")
    from ..signing_flow import issue_code, staff_signer
    from workflows.services.letters import FILL_STATUSES
    with platform().db.read() as session:
        contract = load_contract(session, contract_id)
        if contract.status not in FILL_STATUSES:
            raise Conflict(f"nothing to sign on this contract (it is {contract.status})")
    return jsonify(issue_code(contract_id, staff_signer(g.user))), 201


@bp.get("/contracts/<int:contract_id>/package.pdf")
def contract_package(contract_id):
    """The final bundle of an active contract: the contract, the signed letters in order, the completion certificate."""
    if not g.user.role_set & (STAFF_ROLES | {"customer"}):
        raise Forbidden("you may not see this contract")
    from ..signing_flow import package_pdf, pades_enabled
    with platform().db.read() as session:
        contract = load_contract(session, contract_id)
        if contract.status != "active":
            raise Conflict(f"the package exists once the contract is active (it is {contract.status})")
    # the signed contract's package (SigningService.finalize with the completion certificate); without PAdES
    # (SIGNING_PADES off) the rendered bundle of LetterService.package
    pdf = package_pdf(platform().db.read, contract) if pades_enabled() else None
    if pdf is None:
        with platform().db.read() as session:
            pdf = platform().letters.package(session, load_contract(session, contract_id))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{contract.number}-package.pdf"'})
