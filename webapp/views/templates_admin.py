"""Administration of contract templates: versions per kind, view, and add a version."""
from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.contracts.catalog import TEMPLATES
from workflows.errors import DomainError

from ..security import platform, roles_required

bp = Blueprint("contract_templates", __name__, url_prefix="/admin/templates")


@bp.get("")
@roles_required("admin")
def index():
    with platform().db.write() as session:
        platform().templates.ensure_shipped(session, g.user.username)
    with platform().db.read() as session:
        versions = {kind: platform().templates.versions(session, kind) for kind in TEMPLATES}
    return render_template("admin/templates.html", kinds=TEMPLATES, versions=versions)


@bp.route("/<kind>/new", methods=["GET", "POST"])
@roles_required("admin")
def new_version(kind):
    if kind not in TEMPLATES:
        return render_template("error.html", status=404, message=""), 404
    errors = {}
    if request.method == "POST":
        try:
            with platform().db.write() as session:
                row, created = platform().templates.add_version(session, kind, request.form.get("source", ""), g.user,
                                                                request.form.get("note", ""))
            flash(_("Saved as version %(v)s.", v=row.version) if created else _("No change: identical to the latest version."),
                  "success")
            return redirect(url_for("contract_templates.index"))
        except DomainError as exc:
            errors = exc.fields or {"source": exc.message}
        source = request.form.get("source", "")
    else:
        with platform().db.read() as session:
            latest = platform().templates.latest_version(session, kind) or 1
            source = platform().templates.source(session, kind, latest)
    return render_template("admin/template_form.html", kind=kind, title=TEMPLATES[kind]["title_zh"], source=source,
                           errors=errors), 422 if errors else 200


@bp.get("/<kind>/<int:version>")
@roles_required("admin")
def show(kind, version):
    with platform().db.read() as session:
        row = platform().templates.get(session, kind, version)
    return render_template("admin/template_form.html", kind=kind, title=TEMPLATES.get(kind, {}).get("title_zh", kind),
                           source=row.source, errors={}, readonly=row)
