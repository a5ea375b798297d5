"""The inbox: my roles' open tasks, filtered, searched, sorted by due date, paged by the database."""
from decimal import Decimal, InvalidOperation

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.errors import DomainError

from workflows.services.inbox import ASSIGNMENTS, InboxFilters

from ..inputs import page_number
from ..labels import DECISIONS, field_errors, know_people, label
from ..security import login_required, platform

bp = Blueprint("inbox", __name__)
PAGE_SIZE = 25


def _amount(name, errors):
    raw = (request.args.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
        if not value.is_finite() or value < 0:
            raise InvalidOperation
        return value
    except InvalidOperation:
        errors[name] = True
        return None


def filters_from_request():
    errors = {}
    role = request.args.get("role") or None
    assignment = request.args.get("assignment", "all")
    filters = InboxFilters(
        role=role if role in g.user.role_set else None,
        assignment=assignment if assignment in ASSIGNMENTS else "all",
        service_type=(request.args.get("service_type") or None),
        customer=(request.args.get("customer") or "").strip()[:100] or None,
        min_total=_amount("min_total", errors), max_total=_amount("max_total", errors),
        overdue=request.args.get("overdue") == "1",
        search=(request.args.get("q") or "").strip()[:100] or None,
    )
    return filters, errors


@bp.get("/")
@login_required
def home():
    """Where signing in lands: the inbox, or, for an administrator who holds no task role, the contracts."""
    return redirect(url_for("contracts.index" if not g.user.role_set - {"admin"} else "inbox.index"))


@bp.get("/inbox")
@login_required
def index():
    filters, errors = filters_from_request()
    page = page_number(PAGE_SIZE)
    with platform().db.read() as session:
        rows, total = platform().inbox.page(session, g.user, filters, PAGE_SIZE, (page - 1) * PAGE_SIZE)
        counts, named = platform().inbox.counts(session, g.user), platform().inbox.named_count(session, g.user)
        returns = platform().history.returns(session, {contract.id for task, contract in rows if task.role == "sales"})
        steps = platform().tasks.steps(session, [task.step_id for task, _contract in rows if task.step_id])
        know_people(session, [code for task, _contract in rows for code in (task.assignee, task.escalated_to)]
                    + [event.actor for event in returns.values()]
                    + [code for step in steps.values() for row in step for code in (row.candidate, row.completed_by)])
    return render_template("inbox.html", rows=rows, total=total, counts=counts, named=named, filters=filters, errors=errors,
                           returns=returns, steps=steps, page=page, pages=max((total + PAGE_SIZE - 1) // PAGE_SIZE, 1),
                           assignments=ASSIGNMENTS)


@bp.post("/inbox/bulk")
@login_required
def bulk():
    """Decide the ticked tasks (of one step) at once; each is its own decision: a line per task says how it went."""
    task_ids, decision = request.form.getlist("task_ids"), request.form.get("decision", "approve")
    try:
        results = platform().approval.decide_many(g.user, task_ids, decision, request.form.get("comment", ""))
    except DomainError as exc:
        flash(field_errors(exc), "error")
        return redirect(url_for("inbox.index"))
    with platform().db.read() as session:
        names = platform().inbox.names(session, [r["id"] for r in results])
    for result in results:
        name = names.get(result["id"], result["id"])
        if result["ok"]:
            flash(_("%(task)s: %(decision)s.", task=name, decision=label(DECISIONS, decision)), "success")
        else:
            flash(_("%(task)s: not decided: %(reason)s", task=name, reason=result["message"]), "error")
    return redirect(url_for("inbox.index"))
