"""Out of office (外出) in the API: a member of staff's periods away and their substitute; handing open tasks on."""
from flask import g, jsonify

from workflows.services.absences import absence_as_dict
from workflows.services.tasks import task_as_dict

from . import bp, json_object, platform, require_staff


def _period(body):
    return body.get("substitute"), body.get("starts_at"), body.get("ends_at"), body.get("reason", "")


@bp.get("/users/<username>/absences")
def list_absences(username):
    require_staff()
    periods = platform().absences.list(g.user, username, include_past=True)
    with platform().db.read() as session:
        eligible = platform().absences.eligible_substitutes(session, username)
    return jsonify({"items": [absence_as_dict(a) for a in periods],
                    "substitutes": [{"username": u.username, "name": u.display_name} for u in eligible]})


@bp.post("/users/<username>/absences")
def set_absence(username):
    require_staff()
    return jsonify(absence_as_dict(platform().absences.set(g.user, username, *_period(json_object())))), 201


@bp.put("/users/<username>/absences/<int:absence_id>")
def update_absence(username, absence_id):
    require_staff()
    body = json_object()
    return jsonify(absence_as_dict(platform().absences.update(g.user, username, absence_id, body.get("version"),
                                                              *_period(body))))


@bp.post("/users/<username>/absences/<int:absence_id>/end")
def end_absence(username, absence_id):
    require_staff()
    return jsonify(absence_as_dict(platform().absences.end(g.user, username, absence_id)))


@bp.post("/users/<username>/absences/hand-on")
def hand_on_tasks(username):
    """The tasks open and named for the user go to their substitute now (转办)."""
    require_staff()
    substitute, handed = platform().absences.hand_on(g.user, username)
    return jsonify({"substitute": substitute, "items": [task_as_dict(t) for t in handed]})
