"""The task page: what to decide, on which contract, what changed, who did what so far."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from workflows.errors import Conflict, DomainError, ValidationFailed
from workflows.models import User
from workflows.services.additions import REVIEWER_ROLES
from workflows.services.signing import SUPPLEMENT_SIGNATURE, Origin, SignatureInput

from ..errors import status_of
from ..labels import DECISIONS, field_errors, know_people, label, people_in, person
from ..security import client_ip, login_required, platform

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def page_context(session, task, errors=None, form=None):
    services = platform()
    contract = services.contracts.get(session, task.contract_id)
    data = services.contracts.version_data(session, contract.id, contract.current_version)
    seen = services.contracts.last_seen_version(session, contract.id, task.role)
    changes = services.documents.diff(session, contract, seen, contract.current_version) \
        if seen and seen < contract.current_version else None
    staff = session.exec(select(User).where(User.active)).all()
    # a named approver hands on to any other member of staff; a role's task to another holder of the role
    delegates = [u for u in staff if (u.role_set - {"customer"} if task.candidate else task.role in u.role_set)]
    approvers = services.tasks.steps(session, [task.step_id]).get(task.step_id, []) if task.step_id else []
    task_form = services.tasks.form(session, task) if task.state == "open" else None
    addition = services.additions.of(session, task.id)
    waiting = services.additions.waiting_on(session, task.id) if task_form else None
    step_actions = task_form is not None and addition is None and waiting is None and task.role != "customer"
    letters = services.letters.listing(session, contract)
    supplement = services.supplements.amendment_of_task(session, task) \
        if task_form and task_form["signature"].startswith(SUPPLEMENT_SIGNATURE) else None  # a 补充协议 to sign
    history = services.history.for_contract(session, contract.id)
    returned = services.history.returns(session, {contract.id}).get(contract.id) if task.role == "sales" else None
    know_people(session, [*people_in(history), task.assignee, returned and returned.actor, addition and addition.added_by,
                          waiting and waiting.assignee, task.escalated_to,
                          *(code for row in approvers for code in (row.candidate, row.completed_by))])
    return {
        "task": task, "contract": contract, "data": data, "figures": data["figures"],
        "task_form": task_form, "addition": addition, "waiting": waiting,
        "reviewers": [u for u in staff if u.role_set & set(REVIEWER_ROLES) and u.username != g.user.username]
        if step_actions and "approve" in task_form["decisions"] else [],
        "earlier_steps": services.approval.earlier_steps(session, task)
        if step_actions and "return" in task_form["decisions"] else [],
        "lint": services.contracts.lint(data, [letter["title"] for letter in letters]), "letters": letters,
        "signing_document": services.documents.current_facts(session, contract) if supplement is None
        else {"sha256": services.supplements.current_sha256(session, supplement)},
        "supplement": supplement,
        "signatures": services.signing.signatures(session, contract.id),
        "code": services.signing.pending_code(session, g.user, contract, supplement),  # shown once one was sent
        "history": history,
        "task_titles": services.history.task_titles(session, contract.id), "seen": seen, "changes": changes,
        "returned": returned,
        "delegates": [u for u in delegates if u.username not in (task.assignee, g.user.username)], "approvers": approvers,
        "errors": errors or {}, "form": form or {},
    }


@bp.get("/<task_id>")
@login_required
def show(task_id):
    with platform().db.read() as session:
        task = platform().access.task(session, g.user, task_id)
        return render_template("task.html", **page_context(session, task))


@bp.post("/<task_id>/decide")
@login_required
def decide(task_id):
    form = request.form
    decision = form.get("decision")
    given = SignatureInput(document_sha256=form.get("document_sha256"), intent_code=form.get("intent_code"))
    try:
        task = platform().approval.decide(g.user, task_id, decision, form.get("comment", ""), given,
                                          Origin(client_ip(), request.user_agent.string))
    except (ValidationFailed, Conflict) as exc:  # the page again, with what was typed
        if isinstance(exc, Conflict):
            flash(exc.message, "error")
        with platform().db.read() as session:
            task = platform().access.task(session, g.user, task_id)
            return render_template("task.html", **page_context(session, task, exc.fields, form)), status_of(exc)
    except DomainError as exc:
        flash(exc.message + "".join(f"（{k}：{v}）" for k, v in exc.fields.items()), "error")
        return redirect(url_for("tasks.show", task_id=task_id))
    flash(_("Done: %(decision)s.", decision=label(DECISIONS, decision)), "success")
    return redirect(url_for("contracts.show", contract_id=task.contract_id))


@bp.post("/<task_id>/intent")
@login_required
def intent(task_id):
    """Send me a code: a one-time confirmation code to the signer's email, for a task that needs a signature."""
    try:
        with platform().db.read() as session:
            task = platform().access.task(session, g.user, task_id)
        sent = platform().signing.request_task_intent(g.user, task.id)
        flash(_("A confirmation code was sent to %(destination)s; it is valid for 10 minutes.",
                destination=sent["destination"]), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("tasks.show", task_id=task_id))


def _task_action(task_id, action, success):
    try:
        action()
        flash(success, "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<task_id>/claim")
@login_required
def claim(task_id):
    return _task_action(task_id, lambda: platform().approval.claim(g.user, task_id), _("You hold this task now."))


@bp.post("/<task_id>/unclaim")
@login_required
def unclaim(task_id):
    return _task_action(task_id, lambda: platform().approval.release(g.user, task_id),
                        _("The task is back in the role's inbox."))


@bp.post("/<task_id>/transfer")
@login_required
def transfer(task_id):
    form = request.form
    return _task_action(task_id, lambda: platform().approval.transfer(g.user, task_id, form.get("to", ""),
                                                                      form.get("reason", "")),
                        _("The task was handed over to %(user)s.", user=person(form.get("to", ""))))


@bp.post("/<task_id>/add-reviewer")
@login_required
def add_reviewer(task_id):
    form = request.form
    return _task_action(task_id, lambda: platform().approval.add_reviewer(
        g.user, task_id, form.get("reviewer", ""), form.get("position", ""), form.get("reason", "")),
        _("%(user)s was added as a reviewer of this step.", user=person(form.get("reviewer", ""))))


@bp.post("/<task_id>/send-back")
@login_required
def send_back(task_id):
    try:
        task = platform().approval.send_back(g.user, task_id, request.form.get("to", ""), request.form.get("comment", ""))
    except DomainError as exc:
        flash(field_errors(exc), "error")
        return redirect(url_for("tasks.show", task_id=task_id))
    flash(_("The contract went back to: %(step)s.", step=task.title), "success")
    return redirect(url_for("contracts.show", contract_id=task.contract_id))


@bp.post("/<task_id>/delegate")
@login_required
def delegate(task_id):
    to = request.form.get("to", "")
    return _task_action(task_id, lambda: platform().approval.delegate(g.user, task_id, to, request.form.get("comment", "")),
                        _("The task was delegated to %(user)s.", user=to))
