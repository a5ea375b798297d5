"""The task page: what to decide, on which contract, what changed, who did what so far."""
from flask import Blueprint, abort, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from workflows.errors import DomainError, ValidationFailed
from workflows.models import User

from ..labels import DECISIONS, label
from ..security import client_ip, login_required, platform
from ..signing_flow import complete_task, issue_code, staff_signer

bp = Blueprint("tasks", __name__, url_prefix="/tasks")


def task_for_user(session, task_id):
    task = platform().tasks.get(session, task_id)
    if task.role not in g.user.role_set and "admin" not in g.user.role_set:
        abort(403)
    return task


def page_context(session, task, errors=None, form=None):
    services = platform()
    contract = services.contracts.get(session, task.contract_id)
    data = services.contracts.version_data(session, contract.id, contract.current_version)
    seen = services.contracts.last_seen_version(session, contract.id, task.role)
    changes = services.contracts.diff(session, contract, seen, contract.current_version) if seen and seen < contract.current_version else None
    delegates = session.exec(select(User).where(User.active, User.roles.contains(task.role))).all()
    return {
        "task": task, "contract": contract, "data": data, "figures": data["figures"],
        "task_form": services.tasks.form(session, task) if task.state == "open" else None,
        "lint": services.contracts.lint(session, contract, data), "letters": services.contracts.letters(session, contract, data),
        "history": services.history.for_contract(session, contract.id), "seen": seen, "changes": changes,
        "delegates": [u for u in delegates if task.role in u.role_set and u.username not in (task.assignee, g.user.username)],
        "errors": errors or {}, "form": form or {},
    }


@bp.get("/<task_id>")
@login_required
def show(task_id):
    with platform().db.read() as session:
        task = task_for_user(session, task_id)
        return render_template("task.html", **page_context(session, task))


@bp.post("/<task_id>/decide")
@login_required
def decide(task_id):
    decision, comment = request.form.get("decision"), request.form.get("comment", "")
    try:
        if decision == "sign":  # the diagram may declare a signature on the task: intent code, PAdES (signing_flow)
            task = complete_task(task_id, g.user, decision, comment, request.form.get("intent_code"), client_ip(),
                                 request.user_agent.string)
        else:
            with platform().db.write() as session:
                task = platform().tasks.complete(session, task_id, g.user, decision, comment)
    except ValidationFailed as exc:
        with platform().db.read() as session:
            task = task_for_user(session, task_id)
            return render_template("task.html", **page_context(session, task, exc.fields, request.form)), 422
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("tasks.show", task_id=task_id))
    flash(_("Done: %(decision)s.", decision=label(DECISIONS, decision)), "success")
    return redirect(url_for("contracts.show", contract_id=task.contract_id))


@bp.post("/<task_id>/intent")
@login_required
def intent(task_id):
    """Send me a code: a one-time confirmation code to the signer's email, for a task that needs a signature."""
    try:
        with platform().db.read() as session:
            task = platform().tasks._open_task_for(session, task_id, g.user)
            needs = platform().tasks.form(session, task)["signature"]
        if not needs:
            flash(_("This task needs no signature."), "error")
        else:
            sent = issue_code(task.contract_id, staff_signer(g.user))
            flash(_("A confirmation code was sent to %(destination)s; it is valid for 10 minutes.",
                    destination=sent["destination"]), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("tasks.show", task_id=task_id))


def _task_action(task_id, action, success):
    try:
        with platform().db.write() as session:
            action(session)
        flash(success, "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("tasks.show", task_id=task_id))


@bp.post("/<task_id>/claim")
@login_required
def claim(task_id):
    return _task_action(task_id, lambda s: platform().tasks.claim(s, task_id, g.user), _("You hold this task now."))


@bp.post("/<task_id>/unclaim")
@login_required
def unclaim(task_id):
    return _task_action(task_id, lambda s: platform().tasks.unclaim(s, task_id, g.user), _("The task is back in the role's inbox."))


@bp.post("/<task_id>/delegate")
@login_required
def delegate(task_id):
    to = request.form.get("to", "")
    return _task_action(task_id, lambda s: platform().tasks.delegate(s, task_id, g.user, to, request.form.get("comment", "")),
                        _("The task was delegated to %(user)s.", user=to))
