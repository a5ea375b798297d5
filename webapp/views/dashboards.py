"""The managers' dashboard page (统计): ``DashboardService``'s figures as tables, and the same figures as charts drawn
by ECharts (vendored) from JSON embedded in the page. Without JavaScript the tables say everything."""
from flask import Blueprint, g, render_template
from flask_babel import gettext as _

from workflows.services.dashboards import EXPIRY_WINDOWS, OVERDUE_BUCKETS, VIEWERS, WAIT_BUCKETS

from ..labels import STATUSES, label
from ..security import platform, roles_required

bp = Blueprint("dashboards", __name__, url_prefix="/dashboard")
HOUR = 3600


def band_labels(bounds, unit):
    """'≤ 1 天', '1–3 天' … '> 30 天' for cut-offs in days."""
    names = [_("up to %(n)s %(unit)s", n=bounds[0], unit=unit)]
    names += [f"{low}–{high} {unit}" for low, high in zip(bounds, bounds[1:])]
    return names + [_("over %(n)s %(unit)s", n=bounds[-1], unit=unit)]


def hours(seconds):
    return round(seconds / HOUR, 1)


def charts(figures, age_bands, overdue_bands):
    """What each chart draws, its labels translated: the page's script only hands them to ECharts."""
    months = [m.month for m in figures.months]
    return {
        "status": {"kind": "bar", "categories": [str(label(STATUSES, s)) for s, _count in figures.by_status],
                   "series": [{"name": _("Contracts"), "data": [count for _status, count in figures.by_status]}]},
        "months": {"kind": "bar", "categories": months, "series": [
            {"name": _("Created"), "data": [m.created for m in figures.months]},
            {"name": _("Activated"), "data": [m.activated for m in figures.months]}]},
        "value": {"kind": "line", "categories": months, "unit": _("yuan"), "series": [
            {"name": _("Value signed"), "data": [format(m.value_signed, "f") for m in figures.months]}]},
        "cycle": {"kind": "bar", "categories": [s.title for s in figures.cycle_times], "unit": _("hours"),
                  "series": [{"name": _("Median (p50)"), "data": [hours(s.p50_seconds) for s in figures.cycle_times]},
                             {"name": _("90th percentile (p90)"),
                              "data": [hours(s.p90_seconds) for s in figures.cycle_times]}]},
        "waiting": {"kind": "bar", "stack": True, "categories": [s.title for s in figures.waiting], "series": [
            {"name": name, "data": [s.by_age[i] for s in figures.waiting]} for i, name in enumerate(age_bands)]},
        "overdue": {"kind": "bar", "categories": overdue_bands, "unit": _("yuan"), "series": [
            {"name": _("Outstanding"), "data": [format(amount, "f")
                                                for _n, amount in figures.overdue_instalments.by_days]}]},
        "expiring": {"kind": "bar", "categories": [_("within %(n)s days", n=days) for days, _c in figures.expiring],
                     "series": [{"name": _("Active contracts"), "data": [count for _d, count in figures.expiring]}]},
    }


@bp.app_context_processor
def dashboard_link():
    """Whether the menu links the dashboard for the signed-in user."""
    return {"sees_dashboard": lambda user: bool(user.role_set & VIEWERS)}


@bp.get("")
@roles_required(*sorted(VIEWERS))
def index():
    with platform().db.read() as session:
        figures = platform().dashboards.overview(session, g.user)
    day = _("days")
    age_bands, overdue_bands = band_labels(WAIT_BUCKETS, day), band_labels(OVERDUE_BUCKETS, day)
    return render_template("dashboards/index.html", figures=figures, age_bands=age_bands,
                           overdue_bands=overdue_bands, expiry_windows=EXPIRY_WINDOWS, hours=hours,
                           charts=charts(figures, age_bands, overdue_bands))
