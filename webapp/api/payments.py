"""Payment plans in the API: an active contract's instalments, finance's list of what is due, recording payments
received and importing a bank statement (``PaymentService`` owns every rule)."""
from flask import g, jsonify, request

from ..inputs import day_argument, whole_number
from . import bp, json_object, platform

MAX_WINDOW_DAYS = 3660


def money(amount):
    return None if amount is None else format(amount, "f")


def instalment_as_dict(row):
    return {"contract_id": row.contract_id, "contract_number": row.number, "customer_name": row.customer_name,
            "contract_status": row.contract_status, "seq": row.seq, "due_date": row.due_date.isoformat(), "amount": money(row.amount), "paid": money(row.paid),
            "outstanding": money(row.outstanding), "status": row.status, "days_overdue": row.days_overdue,
            "late_fee": money(row.late_fee), "version": row.version,
            "reminded_at": row.reminded_at.isoformat() if row.reminded_at else None,
            "overdue_at": row.overdue_at.isoformat() if row.overdue_at else None,
            "cancelled_at": row.cancelled_at.isoformat() if row.cancelled_at else None,
            "payments": [{"amount": money(p.amount), "received_on": p.received_on.isoformat(),
                          "bank_reference": p.bank_reference, "source": p.source, "recorded_by": p.recorded_by,
                          "recorded_at": p.recorded_at.isoformat()} for p in row.payments]}


@bp.get("/contracts/<int:contract_id>/payments")
def contract_payments(contract_id):
    """The contract's instalments as of ``as_of`` (default: today in China), each with its payments and late fee."""
    as_of = day_argument("as_of")
    with platform().db.read() as session:
        plan = platform().payments.schedule(session, g.actor, contract_id, as_of)
    return jsonify({"contract_id": plan.contract_id, "contract_number": plan.number, "status": plan.status,
                    "as_of": plan.as_of.isoformat(), "late_fee_rate_per_day": money(plan.late_fee_rate_per_day),
                    "late_fee_on": plan.late_fee_on,
                    "totals": {key: money(value) for key, value in plan.totals.items()},
                    "instalments": [instalment_as_dict(row) for row in plan.instalments]})


@bp.post("/contracts/<int:contract_id>/payments")
def record_payment(contract_id):
    """Finance records money received for one instalment (partial payments allowed; never more than it owes)."""
    row = platform().payments.record(g.actor, contract_id, json_object())
    response = jsonify(instalment_as_dict(row))
    response.status_code = 201
    return response


@bp.get("/payments/open")
def open_instalments():
    """Instalments still owed (of active contracts, and of terminated or ended ones: ``contract_status``), overdue or
    due within ``within_days`` (default: the reminder window), earliest due first."""
    within = whole_number("within_days", None, 0, MAX_WINDOW_DAYS)
    as_of = day_argument("as_of")
    with platform().db.read() as session:
        rows = platform().payments.open_instalments(session, g.actor, within, as_of)
    return jsonify({"items": [instalment_as_dict(row) for row in rows]})


@bp.post("/payments/import")
def import_statement():
    """A bank statement (CSV: the body as text/csv, or the form file ``file``), recorded all or nothing."""
    upload = request.files.get("file")
    content = upload.read() if upload is not None else request.get_data(cache=False)
    return jsonify(platform().payments.import_statement(g.actor, content).as_dict())
