"""Administration: users and their roles; the organisation (departments, managers, members); background jobs that
gave up or wait; the working-day calendar."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _
from sqlmodel import select

from workflows.errors import DomainError, ValidationFailed
from workflows.models import User
from workflows.services.accounts import ROLES

from ..security import platform, roles_required

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _page(errors=None, form=None):
    with platform().db.read() as session:
        everyone = session.exec(select(User).order_by(User.username)).all()
        orgs = {u.username: platform().accounts.customer_org(session, u) for u in everyone if "customer" in u.role_set}
        branches = [(p.code, p.name) for p in platform().contracts.providers(session)]
    return render_template("admin/users.html", users=everyone, roles=ROLES, customer_orgs=orgs, branches=branches,
                           errors=errors or {}, form=form or {})


@bp.get("/users")
@roles_required("admin")
def users():
    return _page()


@bp.post("/users")
@roles_required("admin")
def create_user():
    form = request.form
    try:
        with platform().db.write() as session:
            platform().accounts.create_user(session, form.get("username", "").strip(), form.getlist("roles"),
                                            form.get("password", ""), form.get("display_name", "").strip(),
                                            form.get("email", "").strip(), form.get("customer_org", "").strip() or None,
                                            form.get("provider_code", ""))
    except DomainError as exc:
        return _page(exc.fields, form), 422
    flash(_("User %(name)s created.", name=form.get("username")), "success")
    return redirect(url_for("admin.users"))


@bp.post("/users/<username>")
@roles_required("admin")
def update_user(username):
    try:
        with platform().db.write() as session:
            platform().accounts.set_roles(session, username, request.form.getlist("roles"), request.form.get("active") == "1",
                                          acting=g.user.username, customer_org=request.form.get("customer_org"),
                                          provider_code=request.form.get("provider_code"))
        flash(_("User %(name)s updated.", name=username), "success")
    except (DomainError, ValidationFailed) as exc:
        _flash_refusal(exc)
    return redirect(url_for("admin.users"))


def _flash_refusal(exc):
    """A refused change of a row in a list page: its message and each field's, above the list it was made in."""
    flash(exc.message + "".join(f" {m}" for m in exc.fields.values()), "error")


def _departments_page(errors=None, form=None):
    services = platform()
    with services.db.read() as session:
        departments = services.org.departments(session)
        members = services.org.members(session)
    staff = sorted((u for group in members.values() for u in group), key=lambda u: u.username)
    return render_template("admin/departments.html", departments=departments, members=members, staff=staff,
                           names={d.id: d.name for d, _depth in departments}, errors=errors or {}, form=form or {})


def _department_id(value):
    """A department id from a form ("" is none); what is not a whole number names no department."""
    return int(value) if value and value.isdigit() else (None if not value else -1)


@bp.get("/departments")
@roles_required("admin")
def departments():
    return _departments_page()


@bp.post("/departments")
@roles_required("admin")
def create_department():
    form = request.form
    try:
        platform().org.save_department(g.user, form.get("name", ""), _department_id(form.get("parent_id", "")),
                                       form.get("manager", ""))
    except ValidationFailed as exc:
        return _departments_page(exc.fields, form), 422
    flash(_("Department %(name)s saved.", name=form.get("name", "").strip()), "success")
    return redirect(url_for("admin.departments"))


@bp.post("/departments/<int:department_id>")
@roles_required("admin")
def update_department(department_id):
    form = request.form
    try:
        platform().org.save_department(g.user, form.get("name", ""), _department_id(form.get("parent_id", "")),
                                       form.get("manager", ""), department_id,
                                       int(form["version"]) if form.get("version", "").isdigit() else None)
        flash(_("Department %(name)s saved.", name=form.get("name", "").strip()), "success")
    except DomainError as exc:
        _flash_refusal(exc)
    return redirect(url_for("admin.departments"))


@bp.post("/departments/members")
@roles_required("admin")
def set_member():
    form = request.form
    try:
        platform().org.set_department(g.user, form.get("username", ""), _department_id(form.get("department_id", "")))
        flash(_("User %(name)s updated.", name=form.get("username", "")), "success")
    except DomainError as exc:
        _flash_refusal(exc)
    return redirect(url_for("admin.departments"))


@bp.get("/jobs")
@roles_required("admin")
def jobs():
    services = platform()
    with services.db.read() as session:
        dead, waiting = services.jobs.dead(session), services.jobs.unfinished(session)
        numbers = services.contracts.numbers(session, [job.contract_id for job in dead + waiting])
    return render_template("admin/jobs.html", dead=dead, waiting=waiting, numbers=numbers)


@bp.post("/jobs/<int:job_id>/retry")
@roles_required("admin")
def retry_job(job_id):
    """An administrator gives a dead job a fresh set of tries (once its cause is repaired: the mail server, a
    receiver)."""
    try:
        with platform().db.write() as session:
            platform().jobs.retry(session, job_id)
        flash(_("The background work runs again."), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.jobs"))


@bp.get("/working-days")
@roles_required("admin")
def working_days(errors=None, form=None, status=200):
    """The working-day calendar answer deadlines count on: the years the official schedule covers, the overrides."""
    with platform().db.read() as session:
        overview = platform().working_days.overview(session)
    return render_template("admin/working_days.html", overview=overview, errors=errors or {}, form=form or {}), status


@bp.post("/working-days")
@roles_required("admin")
def set_working_day():
    form = request.form
    kind = form.get("kind")
    try:
        row = platform().working_days.set_override(g.user, form.get("day", ""),
                                                   {"working": True, "off": False}.get(kind), form.get("note", ""))
    except ValidationFailed as exc:
        return working_days(exc.fields, form, 422)
    flash(_("%(day)s is now a working day.", day=row.day.isoformat()) if row.is_working_day
          else _("%(day)s is now a day off.", day=row.day.isoformat()), "success")
    return redirect(url_for("admin.working_days"))


@bp.post("/working-days/<day>/delete")
@roles_required("admin")
def remove_working_day(day):
    try:
        platform().working_days.remove_override(g.user, day)
        flash(_("The override of %(day)s is removed: the official schedule applies.", day=day), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    return redirect(url_for("admin.working_days"))
