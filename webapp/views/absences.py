"""外出设置: a member of staff's periods out of office and their substitute; ending one early; handing the tasks open
for them on to the substitute now. Every rule is ``AbsenceService``'s; this page reads forms and shows what it
answers."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.actors import STAFF_ROLES
from workflows.clock import utcnow
from workflows.errors import Conflict, DomainError, ValidationFailed
from workflows.services.absences import absence_status

from ..labels import field_errors
from ..security import platform, roles_required

bp = Blueprint("absences", __name__, url_prefix="/out-of-office")
STAFF = tuple(sorted(STAFF_ROLES))


def _page(errors=None, form=None, status=200):
    with platform().db.read() as session:
        periods = platform().absences.periods(session, g.user.username)
        substitutes = platform().absences.eligible_substitutes(session, g.user.username)
        open_named = len(platform().tasks.query(session, named=g.user.username, limit=500))
    now = utcnow()
    return render_template("absences/index.html", periods=[(p, absence_status(p, now)) for p in periods],
                           substitutes=substitutes, open_named=open_named, errors=errors or {}, form=form or {}), status


@bp.get("")
@roles_required(*STAFF)
def index():
    return _page()


@bp.post("")
@roles_required(*STAFF)
def set_period():
    form = request.form
    try:
        platform().absences.set(g.user, g.user.username, form.get("substitute", ""), form.get("starts_at", ""),
                                form.get("ends_at", ""), form.get("reason", ""))
    except ValidationFailed as exc:
        return _page(exc.fields, form, 422)
    except Conflict as exc:
        flash(exc.message, "error")
        return _page(status=409)
    flash(_("Out-of-office period saved: tasks named for you meanwhile go to your substitute."), "success")
    return redirect(url_for("absences.index"))


@bp.post("/<int:absence_id>/end")
@roles_required(*STAFF)
def end_period(absence_id):
    try:
        platform().absences.end(g.user, g.user.username, absence_id)
        flash(_("The period was ended: new tasks are yours again; those already handed on stay with your substitute."),
              "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("absences.index"))


@bp.post("/hand-on")
@roles_required(*STAFF)
def hand_on():
    try:
        substitute, handed = platform().absences.hand_on(g.user, g.user.username)
        with platform().db.read() as session:
            name = platform().people.names(session, [substitute]).get(substitute, substitute)
        flash(_("%(n)s open tasks handed on to %(name)s.", n=len(handed), name=name), "success")
    except DomainError as exc:
        flash(field_errors(exc), "error")
    return redirect(url_for("absences.index"))
