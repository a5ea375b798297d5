"""Tasks in the API: the inbox, decisions (a ``sign`` on a task that declares a signature is the signing act),
holding a task; and the process definitions."""
import json

from flask import Response, g, jsonify, request

from workflows.actors import is_customer
from workflows.errors import Forbidden, ValidationFailed
from workflows.services.definitions import definition_as_dict
from workflows.services.signing import Origin
from workflows.services.tasks import task_as_dict

from ..security import client_ip
from . import bp, json_object, page_args, platform, require_staff, whole_number
from .openapi import build_document
from .signing import signature_input


def origin():
    return Origin(client_ip(), request.user_agent.string)


@bp.get("/tasks")
def list_tasks():
    limit, offset = page_args()
    roles = set(g.actor.role_set)
    role = request.args.get("role")
    if role:
        if role not in roles:
            raise Forbidden(f"you do not hold the role {role!r}")
        roles = {role}
    contract_id = whole_number("contract_id")
    with platform().db.read() as session:
        if is_customer(g.actor):  # only the tasks of the contracts bound to this customer
            bound = [c.id for c in platform().access.customer_contracts(session, g.actor)]
            ids = [contract_id] if contract_id in bound else ([] if contract_id is not None else bound)
            tasks = [t for cid in ids for t in platform().tasks.query(session, roles={"customer"}, contract_id=cid)]
            tasks = tasks[offset:offset + limit]
        elif request.args.get("escalated") == "1":  # 升级给我: overdue tasks escalated to the caller, whatever their role
            tasks = platform().tasks.query(session, contract_id=contract_id, escalated_to=g.actor.username,
                                           assignee=request.args.get("assignee"), limit=limit, offset=offset)
        else:
            tasks = platform().tasks.query(session, roles=roles, contract_id=contract_id, for_user=g.actor.username,
                                           assignee=request.args.get("assignee"), limit=limit, offset=offset)
        return jsonify({"items": [task_as_dict(t) for t in tasks], "limit": limit, "offset": offset})


@bp.get("/tasks/<task_id>")
def get_task(task_id):
    with platform().db.read() as session:
        return jsonify(task_as_dict(platform().access.task(session, g.actor, task_id)))


@bp.post("/tasks/<task_id>/complete")
def complete_task(task_id):
    """A decision; ``sign`` on a task whose diagram declares a signature is the signing act (intent code, the SHA-256
    of the document read, and for the customer consent and how they sign)."""
    body = json_object()
    task = platform().approval.decide(g.actor, task_id, body.get("decision"), body.get("comment", ""),
                                      signature_input(body), origin())
    with platform().db.read() as session:
        return jsonify({"task": task_as_dict(task), "contract": platform().contracts.brief(session, task.contract_id),
                        "next_tasks": [task_as_dict(t) for t in platform().tasks.query(session, contract_id=task.contract_id)
                                       if not is_customer(g.actor) or t.role == "customer"]})


@bp.post("/tasks/<task_id>/intent")
def request_intent_code(task_id):
    """Send the caller a one-time code for the signing act a task asks of them."""
    return jsonify(platform().signing.request_task_intent(g.actor, task_id)), 201


@bp.post("/tasks/<task_id>/claim")
def claim_task(task_id):
    return jsonify(task_as_dict(platform().approval.claim(g.actor, task_id)))


@bp.post("/tasks/<task_id>/unclaim")
def unclaim_task(task_id):
    return jsonify(task_as_dict(platform().approval.release(g.actor, task_id)))


@bp.post("/tasks/<task_id>/delegate")
def delegate_task(task_id):
    body = json_object()
    if not isinstance(body.get("to"), str):
        raise ValidationFailed("name the user to delegate to", {"to": "required"})
    return jsonify(task_as_dict(platform().approval.delegate(g.actor, task_id, body["to"],
                                                             str(body.get("comment") or "")[:2000])))


@bp.post("/tasks/<task_id>/transfer")
def transfer_task(task_id):
    """转办: the task goes to a named holder of its role, who decides in their own name (``delegate`` decides for)."""
    body = json_object()
    return jsonify(task_as_dict(platform().approval.transfer(g.actor, task_id, body.get("to"), body.get("reason"))))


@bp.post("/tasks/<task_id>/add-reviewer")
def add_reviewer(task_id):
    """加签: another reviewer decides on the step before you (``before``) or after your approval (``after``)."""
    body = json_object()
    added = platform().approval.add_reviewer(g.actor, task_id, body.get("reviewer"), body.get("position"),
                                             body.get("reason"))
    return jsonify(task_as_dict(added)), 201


@bp.get("/tasks/<task_id>/send-back")
def send_back_steps(task_id):
    """The earlier steps an open task may send its contract back to (回退)."""
    with platform().db.read() as session:
        task = platform().access.task(session, g.actor, task_id)
        steps = platform().approval.earlier_steps(session, task) if task.state == "open" else []
    return jsonify({"items": [{"name": name, "title": title} for name, title in steps]})


@bp.post("/tasks/<task_id>/send-back")
def send_back(task_id):
    """回退: back to an earlier step the contract passed (``to``: its name), with a comment."""
    body = json_object()
    task = platform().approval.send_back(g.actor, task_id, body.get("to"), body.get("comment"))
    return _reopened(task)


@bp.post("/contracts/<int:contract_id>/withdraw")
def withdraw_contract(contract_id):
    """撤回: sales take a submitted contract back to the draft while no reviewer has taken it up."""
    body = json_object()
    return _reopened(platform().approval.withdraw(g.actor, contract_id, body.get("comment") or ""))


def _reopened(task):
    with platform().db.read() as session:
        return jsonify({"task": task_as_dict(task), "contract": platform().contracts.brief(session, task.contract_id)})


@bp.post("/tasks/bulk-complete")
def bulk_complete():
    """One decision on several open tasks of one step, each in its own transaction: a result per task."""
    body = json_object()
    return jsonify({"items": platform().approval.decide_many(g.actor, body.get("task_ids"), body.get("decision"),
                                                             body.get("comment") or "")})


@bp.get("/processes")
def list_processes():
    require_staff()
    with platform().db.read() as session:
        return jsonify({"items": [definition_as_dict(d) for d in platform().repository.versions(session, request.args.get("key"))]})


@bp.get("/openapi.json")
def openapi():
    return Response(json.dumps(build_document(), ensure_ascii=False), mimetype="application/json")
