"""Finance's payments page: instalments due soon or overdue, recording a payment received, importing a bank statement.
Every rule is ``PaymentService``'s; this page reads forms and shows what it answers."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.actors import STAFF_ROLES
from workflows.errors import Conflict, ValidationFailed

from ..security import platform, roles_required

bp = Blueprint("payments", __name__, url_prefix="/payments")
STAFF = tuple(sorted(STAFF_ROLES))
WINDOWS = (7, 30, 90)  # the page's choices of how far ahead to list (days)


def _listing(errors=None, form=None, report=None, import_errors=None, status=200):
    contract_id = request.values.get("contract", type=int)
    within = request.args.get("within", type=int)
    within = within if within in WINDOWS else None
    with platform().db.read() as session:
        rows = platform().payments.open_instalments(session, g.user, within, contract_id=contract_id)
    return render_template("payments/index.html", rows=rows, within=within, windows=WINDOWS, contract_id=contract_id,
                           errors=errors or {}, form=form or {}, report=report, import_errors=import_errors or {},
                           can_record="finance" in g.user.role_set), status


@bp.get("")
@roles_required(*STAFF)
def index():
    return _listing()


@bp.post("/record")
@roles_required("finance")
def record():
    form = request.form
    try:
        row = platform().payments.record(g.user, form.get("contract_id", type=int), {
            name: form.get(name, "") for name in ("instalment", "amount", "received_on", "bank_reference", "version")})
    except ValidationFailed as exc:
        return _listing(errors=exc.fields, form=form, status=422)
    except Conflict as exc:
        flash(exc.message, "error")
        return _listing(status=409)
    flash(_("Payment of %(amount)s recorded for instalment %(seq)s of %(number)s.", amount=form.get("amount"),
            seq=row.seq, number=row.number), "success")
    return redirect(url_for("payments.index", contract=request.args.get("contract")))


@bp.post("/import")
@roles_required("finance")
def import_statement():
    upload = request.files.get("file")
    try:
        report = platform().payments.import_statement(g.user, upload.read() if upload is not None else b"")
    except ValidationFailed as exc:
        return _listing(import_errors=exc.fields, status=422)
    except Conflict as exc:
        flash(exc.message, "error")
        return _listing(status=409)
    return _listing(report=report)
