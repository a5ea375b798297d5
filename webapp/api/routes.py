"""API routes: each one reads the request, calls one service inside one transaction, and shapes JSON."""
import json
from dataclasses import asdict

from flask import Response, g, jsonify, request, url_for
from sqlmodel import select

from workflows.documents import render_contract_html, render_contract_pdf
from workflows.errors import Conflict, Forbidden, ValidationFailed
from workflows.signing.audit import verify_chain
from workflows.models import HumanTask
from workflows.services.contracts import STATUS_TITLES
from workflows.services.definitions import definition_as_dict
from workflows.services.history import event_as_dict
from workflows.services.tasks import task_as_dict

from . import STAFF_ROLES, bp, json_body, platform, require_role
from .openapi import build_document

MAX_PAGE = 200


def page_args():
    try:
        limit = min(max(int(request.args.get("limit", 50)), 1), MAX_PAGE)
        offset = max(int(request.args.get("offset", 0)), 0)
    except ValueError:
        raise ValidationFailed("limit and offset are whole numbers", {"limit": "a whole number", "offset": "a whole number"})
    return limit, offset


def int_arg(name):
    value = request.args.get(name)
    if value is None:
        return None
    if not value.isdigit():
        raise ValidationFailed(f"{name} is a whole number", {name: "a whole number"})
    return int(value)


# --- contracts -------------------------------------------------------------------
def can_read_contract(session, contract):
    if g.user.role_set & STAFF_ROLES:
        return True
    if "customer" in g.user.role_set:  # until customers sign in through OIDC: contracts that reached them
        query = select(HumanTask.id).where(HumanTask.contract_id == contract.id, HumanTask.role == "customer")
        return session.exec(query.limit(1)).first() is not None
    return False


def load_contract(session, contract_id):
    contract = platform().contracts.get(session, contract_id)
    if not can_read_contract(session, contract):
        raise Forbidden("you may not see this contract")
    return contract


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


def signature_as_dict(signature):
    """The evidence of a signature (the image and PDF bytes are served by the pages, not inlined here)."""
    return {"id": signature.id, "role": signature.role, "name": signature.name, "email": signature.email,
            "issuer": signature.issuer, "subject": signature.subject, "method": signature.method,
            "contract_version": signature.contract_version, "document_sha256": signature.document_sha256,
            "image_sha256": signature.image_sha256, "pades_sha256": signature.pades_sha256, "ip": signature.ip,
            "user_agent": signature.user_agent, "consent_text": signature.consent_text,
            "signed_at": signature.signed_at.isoformat()}


def contract_detail(session, contract):
    services = platform()
    data = services.contracts.version_data(session, contract.id, contract.current_version)
    figures = data["figures"]
    tasks = services.tasks.query(session, contract_id=contract.id)
    return {
        **contract_summary(contract),
        "net_amount": figures["net_amount"], "tax_amount": figures["tax_amount"], "tax_rate": figures["tax_rate"],
        "total_in_words": figures["total_in_words"], "net_in_words": figures["net_in_words"],
        "tax_in_words": figures["tax_in_words"],
        "data": data,
        "tasks": [task_as_dict(t) for t in tasks],
        "letters": services.contracts.letters(session, contract, data),
        "lint": [asdict(finding) for finding in services.contracts.lint(session, contract, data)],
        "versions": [{"version": v.version, "sha256": v.sha256, "created_by": v.created_by,
                      "created_at": v.created_at.isoformat()} for v in services.contracts.versions(session, contract.id)],
        "signatures": [signature_as_dict(s) for s in services.customers.signatures(session, contract.id)],
        "history": [event_as_dict(e) for e in services.history.for_contract(session, contract.id)],
        "links": {"self": url_for("api.get_contract", contract_id=contract.id),
                  "history": url_for("api.contract_history", contract_id=contract.id)},
    }


@bp.post("/contracts")
def create_contract():
    require_role("sales")
    body = json_body()
    with platform().db.write() as session:
        contract = platform().contracts.create(session, body, g.user)
        payload = contract_detail(session, contract)
    response = jsonify(payload)
    response.status_code = 201
    response.headers["Location"] = payload["links"]["self"]
    return response


@bp.get("/contracts")
def list_contracts():
    limit, offset = page_args()
    require_role(*STAFF_ROLES)
    with platform().db.read() as session:
        items, total = platform().contracts.search(
            session, status=request.args.get("status"), customer=request.args.get("customer"),
            number=request.args.get("number"), limit=limit, offset=offset)
        return jsonify({"items": [contract_summary(c) for c in items], "total": total, "limit": limit, "offset": offset})


@bp.get("/contracts/<int:contract_id>")
def get_contract(contract_id):
    with platform().db.read() as session:
        return jsonify(contract_detail(session, load_contract(session, contract_id)))


@bp.patch("/contracts/<int:contract_id>")
def update_contract(contract_id):
    require_role("sales")
    body = json_body()
    with platform().db.write() as session:
        contract = platform().contracts.update(session, contract_id, body, g.user)
        return jsonify(contract_detail(session, contract))


@bp.post("/contracts/<int:contract_id>/submit")
def submit_contract(contract_id):
    require_role("sales")
    body = json_body()
    comment = body.get("comment", "") if isinstance(body, dict) else ""
    with platform().db.write() as session:
        platform().contracts.submit(session, contract_id, g.user, comment)
        return jsonify(contract_detail(session, platform().contracts.get(session, contract_id)))


@bp.get("/contracts/<int:contract_id>/history")
def contract_history(contract_id):
    with platform().db.read() as session:
        load_contract(session, contract_id)
        events = platform().history.for_contract(session, contract_id)
        return jsonify({"items": [event_as_dict(e) for e in events]})


@bp.get("/contracts/<int:contract_id>/audit")
def contract_audit(contract_id):
    """Recompute the contract's hash-chained audit trail; names the first broken link."""
    with platform().db.read() as session:
        load_contract(session, contract_id)
        report = verify_chain(session, contract_id)
    return jsonify(asdict(report))


@bp.get("/contracts/<int:contract_id>/versions/<int:version>")
def contract_version(contract_id, version):
    with platform().db.read() as session:
        load_contract(session, contract_id)
        return jsonify({"version": version, "data": platform().contracts.version_data(session, contract_id, version)})


@bp.get("/contracts/<int:contract_id>/document.html")
def contract_html(contract_id):
    with platform().db.read() as session:
        document = platform().contracts.document(session, load_contract(session, contract_id))
    return Response(render_contract_html(document), mimetype="text/html")


@bp.get("/contracts/<int:contract_id>/document.pdf")
def contract_pdf(contract_id):
    with platform().db.read() as session:
        document = platform().contracts.document(session, load_contract(session, contract_id))
    filename = f"{document['number']}-v{document['version']}.pdf"
    return Response(render_contract_pdf(document), mimetype="application/pdf",
                    headers={"Content-Disposition": f'inline; filename="{filename}"'})


# --- tasks -----------------------------------------------------------------------
@bp.get("/tasks")
def list_tasks():
    limit, offset = page_args()
    roles = set(g.user.role_set)
    role = request.args.get("role")
    if role:
        if role not in roles:
            raise Forbidden(f"you do not hold the role {role!r}")
        roles = {role}
    with platform().db.read() as session:
        tasks = platform().tasks.query(session, roles=roles, contract_id=int_arg("contract_id"),
                                       assignee=request.args.get("assignee"), limit=limit, offset=offset)
        return jsonify({"items": [task_as_dict(t) for t in tasks], "limit": limit, "offset": offset})


@bp.get("/tasks/<task_id>")
def get_task(task_id):
    with platform().db.read() as session:
        task = platform().tasks.get(session, task_id)
        if task.role not in g.user.role_set:
            raise Forbidden(f"this task belongs to the {task.role} role")
        return jsonify(task_as_dict(task))


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id):
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object", {"": "expected an object"})
    if body.get("decision") == "sign":  # a task whose diagram declares a signature needs the intent code
        from ..security import client_ip
        from ..signing_flow import complete_task as complete_signing
        task = complete_signing(task_id, g.user, "sign", body.get("comment", ""), body.get("intent_code"),
                                client_ip(), request.user_agent.string)
        with platform().db.read() as session:
            return _completed(session, task)
    with platform().db.write() as session:
        task = platform().tasks.complete(session, task_id, g.user, body.get("decision"), body.get("comment", ""))
        return _completed(session, task)


def _completed(session, task):
    contract = platform().contracts.brief(session, task.contract_id)
    return jsonify({"task": task_as_dict(task), "contract": contract,
                    "next_tasks": [task_as_dict(t) for t in platform().tasks.query(session, contract_id=task.contract_id)]})


@bp.post("/tasks/<task_id>/intent")
def request_intent_code(task_id):
    """Send the caller a one-time code for a task that needs a signature (its diagram declares ``signature``)."""
    from ..signing_flow import issue_code, staff_signer
    with platform().db.read() as session:
        task = platform().tasks._open_task_for(session, task_id, g.user)
        if not platform().tasks.form(session, task)["signature"]:
            raise Conflict("this task needs no signature")
    return jsonify(issue_code(task.contract_id, staff_signer(g.user))), 201


@bp.post("/tasks/<task_id>/claim")
def claim_task(task_id):
    with platform().db.write() as session:
        return jsonify(task_as_dict(platform().tasks.claim(session, task_id, g.user)))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim_task(task_id):
    with platform().db.write() as session:
        return jsonify(task_as_dict(platform().tasks.unclaim(session, task_id, g.user)))


@bp.post("/tasks/<task_id>/delegate")
def delegate_task(task_id):
    body = json_body()
    if not isinstance(body, dict) or not isinstance(body.get("to"), str):
        raise ValidationFailed("name the user to delegate to", {"to": "required"})
    with platform().db.write() as session:
        return jsonify(task_as_dict(platform().tasks.delegate(session, task_id, g.user, body["to"],
                                                              str(body.get("comment") or "")[:2000])))


# --- process definitions -------------------------------------------------------------
@bp.get("/processes")
def list_processes():
    require_role(*STAFF_ROLES)
    with platform().db.read() as session:
        return jsonify({"items": [definition_as_dict(d) for d in platform().repository.versions(session, request.args.get("key"))]})


@bp.get("/openapi.json")
def openapi():
    return Response(json.dumps(build_document(), ensure_ascii=False), mimetype="application/json")
