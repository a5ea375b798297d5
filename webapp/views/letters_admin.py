"""Administration of commitment-letter templates: versions per letter, view, and add a version (text and fields)."""
import json

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.errors import DomainError

from ..security import platform, roles_required

bp = Blueprint("letter_templates", __name__, url_prefix="/admin/letters")


@bp.get("")
@roles_required("admin")
def index():
    with platform().db.write() as session:
        platform().letters.ensure_shipped(session, g.user.username)
    with platform().db.read() as session:
        versions = {code: platform().letters.versions(session, code) for code in platform().letters.codes(session)}
    return render_template("admin/letters.html", versions=versions)


@bp.route("/<code>/new", methods=["GET", "POST"])
@roles_required("admin")
def new_version(code):
    errors = {}
    if request.method == "POST":
        form = request.form
        try:
            with platform().db.write() as session:
                row, created = platform().letters.add_version(session, code, form.get("title", ""), form.get("source", ""),
                                                              form.get("fields", ""), g.user, form.get("note", ""))
            flash(_("Saved as version %(v)s.", v=row.version) if created else _("No change: identical to the latest version."),
                  "success")
            return redirect(url_for("letter_templates.index"))
        except DomainError as exc:
            errors = exc.fields or {"source": exc.message}
        values = {"title": form.get("title", ""), "source": form.get("source", ""), "fields": form.get("fields", "")}
    else:
        with platform().db.read() as session:
            latest = platform().letters.template(session, code) if platform().letters.latest_version(session, code) else None
        values = {"title": latest.title if latest else "", "source": latest.source if latest else "",
                  "fields": json.dumps(json.loads(latest.fields_json), ensure_ascii=False, indent=2) if latest else "[]"}
    return render_template("admin/letter_form.html", code=code, values=values, errors=errors), 422 if errors else 200


@bp.get("/<code>/<int:version>")
@roles_required("admin")
def show(code, version):
    with platform().db.read() as session:
        row = platform().letters.template(session, code, version)
    values = {"title": row.title, "source": row.source,
              "fields": json.dumps(json.loads(row.fields_json), ensure_ascii=False, indent=2)}
    return render_template("admin/letter_form.html", code=code, values=values, errors={}, readonly=row)
