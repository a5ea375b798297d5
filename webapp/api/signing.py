"""Signing in the API: the customer's letters, the document to sign, the one-time code, the signing act, declining;
and who signs (resend, change the contact, an administrator's approval of that change, binding a signer)."""
from flask import g, jsonify, request

from workflows.errors import ValidationFailed
from workflows.services.signing import Origin, SignatureInput, png_from_data_url

from ..security import client_ip
from . import bp, json_object, platform


SIGNATURE_TEXT = ("document_sha256", "method", "typed_name", "image", "intent_code")


def signature_input(body):
    """The signing fields of a request body: the SHA-256 of the document read, consent, method, name or image
    (a ``data:image/png;base64,...`` URL: a drawn signature or the organisation's seal), and the one-time code. Each
    is text (consent true or false) when it is sent at all, whatever the decision: 422 naming the others."""
    wrong = {name: "text" for name in SIGNATURE_TEXT if name in body and not isinstance(body[name], str)}
    if "consent" in body and not isinstance(body["consent"], bool):
        wrong["consent"] = "true or false"
    if wrong:
        raise ValidationFailed("the signing fields are text, consent true or false", wrong)
    method = body.get("method")
    return SignatureInput(document_sha256=body.get("document_sha256"), consent=body.get("consent") is True,
                          method=method, typed_name=body.get("typed_name", ""),
                          image_png=png_from_data_url(body.get("image")) if method in ("drawn", "seal") else None,
                          intent_code=body.get("intent_code"))


def origin():
    return Origin(client_ip(), request.user_agent.string)


def _letters(session, contract):
    return {"items": platform().letters.listing(session, contract),
            "activation_missing": platform().activation.blockers(session, contract)}


@bp.get("/contracts/<int:contract_id>/letters")
def contract_letters(contract_id):
    with platform().db.read() as session:
        return jsonify(_letters(session, platform().access.contract(session, g.actor, contract_id)))


@bp.put("/contracts/<int:contract_id>/letters/<code>")
def fill_letter(contract_id, code):
    """The customer fills a letter's fields (checked field by field); the document to sign is prepared again."""
    body = json_object()
    if not isinstance(body.get("values", {}), dict):
        raise ValidationFailed("send {\"values\": {field: text}}", {"values": "an object of field values"})
    platform().signing.fill_letter(g.actor, contract_id, code, body.get("values", {}))
    with platform().db.read() as session:
        contract = platform().contracts.get(session, contract_id)
        return jsonify(next(i for i in platform().letters.listing(session, contract) if i["code"] == code))


@bp.get("/contracts/<int:contract_id>/signing")
def signing_state(contract_id):
    """What the signer needs: whether the document is ready, its SHA-256 (send it back when signing), the letters."""
    with platform().db.read() as session:
        contract = platform().access.contract(session, g.actor, contract_id)
        return jsonify({**platform().signing.signing_state(session, contract),
                        "letters": platform().letters.listing(session, contract)})


@bp.post("/contracts/<int:contract_id>/intent")
def request_contract_intent_code(contract_id):
    """A one-time code for the caller's signing act on this contract (one code covers the contract and its letters)."""
    return jsonify(platform().signing.request_intent(g.actor, contract_id)), 201


@bp.post("/contracts/<int:contract_id>/sign")
def sign_contract(contract_id):
    """The customer's signing act: the contract and every letter, one code."""
    result = platform().signing.sign_as_customer(g.actor, contract_id, signature_input(json_object()), origin())
    return jsonify(result)


@bp.post("/contracts/<int:contract_id>/decline")
def decline_contract(contract_id):
    body = json_object()
    platform().approval.decline(g.actor, contract_id, body.get("reason") or body.get("comment") or "")
    return jsonify({"status": "declined"})


@bp.post("/contracts/invitations/resend")
def resend_invitations():
    """Sales or an administrator: resend the invitation of several contracts, each on its own: a result per contract."""
    body = json_object()
    return jsonify({"items": platform().invitations.resend_many(g.actor, body.get("contract_ids"))})


@bp.post("/contracts/<int:contract_id>/invitation")
def manage_invitation(contract_id):
    """Sales or an administrator: ``resend`` the invitation, or ``change_contact`` (once a signer accepted, the change
    waits for an administrator: 202 with the request)."""
    body = json_object()
    action = body.get("action")
    if action == "resend":
        platform().invitations.resend(g.actor, contract_id)
        return jsonify({"status": "sent"})
    if action == "change_contact":
        change = platform().invitations.change_contact(g.actor, contract_id, body.get("email"), body.get("reason", ""))
        if change is None:
            return jsonify({"status": "sent"})
        return jsonify({"status": "pending_approval", "request": change.id}), 202
    raise ValidationFailed("unknown action", {"action": "resend or change_contact"})


@bp.post("/contact-changes/<int:change_id>/decision")
def decide_contact_change(change_id):
    body = json_object()
    approve = body.get("approve")  # the service refuses anything but true or false (422)
    change = platform().invitations.decide_contact_change(g.actor, change_id, approve, body.get("comment", ""))
    return jsonify({"id": change.id, "status": "approved" if approve else "rejected"})


@bp.post("/contracts/<int:contract_id>/signer")
def bind_signer(contract_id):
    """An administrator binds the customer's signer: ``{"username": <API account>}`` or ``{"identity_id": N}``."""
    body = json_object()
    identity_id = body.get("identity_id")
    username = body.get("username")
    if username is not None and not isinstance(username, str):
        raise ValidationFailed("username is text", {"username": "text"})
    platform().invitations.bind(g.actor, contract_id, identity_id if isinstance(identity_id, int) else None, username)
    return jsonify({"status": "bound"})
