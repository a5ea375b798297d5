"""The managers' dashboard as JSON: the figures ``DashboardService`` aggregates (money as strings in yuan, durations
in seconds, times in UTC ISO 8601)."""
from flask import g, jsonify

from . import bp, platform
from .payments import money


def dashboard_as_dict(figures):
    overdue = figures.overdue_instalments
    return {
        "as_of": figures.as_of.isoformat(),
        "total": figures.total,
        "by_status": [{"status": status, "count": count} for status, count in figures.by_status],
        "months": [{"month": m.month, "created": m.created, "activated": m.activated,
                    "value_signed": money(m.value_signed)} for m in figures.months],
        "cycle_times": [{"step": s.step, "title": s.title, "completed": s.completed, "p50_seconds": s.p50_seconds,
                         "p90_seconds": s.p90_seconds} for s in figures.cycle_times],
        "waiting": [{"step": s.step, "title": s.title, "open": s.open, "overdue": s.overdue, "by_age": list(s.by_age)}
                    for s in figures.waiting],
        "longest_waiting": [{"contract_id": t.contract_id, "contract_number": t.number,
                             "customer_name": t.customer_name, "step": t.step, "title": t.title,
                             "waiting_since": t.waiting_since.isoformat(), "due_at": t.due_at.isoformat()}
                            for t in figures.longest_waiting],
        "overdue_instalments": {"instalments": overdue.instalments, "contracts": overdue.contracts,
                                "outstanding": money(overdue.outstanding),
                                "by_days": [{"instalments": n, "outstanding": money(amount)}
                                            for n, amount in overdue.by_days]},
        "expiring": [{"within_days": days, "contracts": count} for days, count in figures.expiring],
    }


@bp.get("/dashboard")
def dashboard():
    """Figures over all contracts for sales, legal, finance and administrators."""
    with platform().db.read() as session:
        figures = platform().dashboards.overview(session, g.actor)
    return jsonify(dashboard_as_dict(figures))
