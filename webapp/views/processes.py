"""Administration of process definitions: edit BPMN/DMN in the browser, deploy versions, diff, migrate, watch.

Logic lives in ``workflows`` (RepositoryService, engine.bpmn_diff, services.migration, services.monitoring);
this module only translates HTTP.
"""
import logging

from flask import Blueprint, Response, abort, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from workflows.engine.bpmn_diff import diff as bpmn_diff
from workflows.errors import Conflict, DomainError, InvalidDefinition, NotFound, ValidationFailed
from workflows.services import migration, monitoring
from workflows.services.accounts import ROLES

from ..editor_texts import BPMN_JS, DMN_JS, in_current_language
from ..errors import MalformedRequest
from ..inputs import LARGEST_ID, json_body
from ..labels import ROLES as ROLE_LABELS
from ..security import platform, roles_required
from workflows.actors import STAFF_ROLES

log = logging.getLogger(__name__)
bp = Blueprint("processes", __name__, url_prefix="/admin/processes")
diagram_bp = Blueprint("process_diagram", __name__, url_prefix="/contracts")

MAX_DEPLOY_BYTES = 3_500_000  # under MAX_CONTENT_LENGTH; each file is limited again by RepositoryService


def _int_arg(name):
    value = request.values.get(name, "")
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(LARGEST_ID)) and int(value) <= LARGEST_ID):
        raise ValidationFailed(_("Choose a version."), {name: _("must be a version number")})
    return int(value)


def _keys(session):
    latest = {}
    for d in platform().repository.versions(session):
        latest[d.key] = d
    return latest


@bp.get("/")
@roles_required("admin")
def index():
    with platform().db.read() as session:
        latest = _keys(session)
        running = monitoring.counts_by_definition(session)
        totals = {}
        for d in platform().repository.versions(session):
            totals[d.key] = totals.get(d.key, 0) + running.get(d.id, 0)
    return render_template("admin/processes.html", processes=list(latest.values()), running=totals)


def _versions_context(session, key):
    versions = platform().repository.versions(session, key)
    if not versions:
        abort(404, _("No process %(key)s is deployed.", key=key))
    running = monitoring.counts_by_definition(session)
    erroring = monitoring.counts_by_definition(session, "error")
    return {"key": key, "versions": list(reversed(versions)), "latest": versions[-1], "running": running,
            "erroring": erroring,
            "files": {d.id: sorted(monitoring.dmn_files(d)) for d in versions}, "dmn_names": sorted(monitoring.dmn_files(versions[-1]))}


@bp.get("/<key>/")
@roles_required("admin")
def versions(key):
    with platform().db.read() as session:
        return render_template("admin/process_versions.html", **_versions_context(session, key), plan=None)


@bp.get("/<key>/versions/<int:number>/download")
@roles_required("admin")
def download(key, number):
    filename = request.args.get("file", "process.bpmn")
    with platform().db.read() as session:
        try:
            definition = platform().repository.version(session, key, number)
        except NotFound as exc:
            abort(404, exc.message)
        if filename == "process.bpmn":
            body, name, mimetype = definition.bpmn_xml, f"{key}-v{number}.bpmn", "application/xml"
        else:
            files = monitoring.dmn_files(definition)
            if filename not in files:
                abort(404, _("Version %(v)s has no file %(f)s.", v=number, f=filename))
            body, name, mimetype = files[filename], f"{key}-v{number}-{filename}", "application/xml"
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}"'})


@bp.get("/<key>/diff")
@roles_required("admin")
def diff(key):
    with platform().db.read() as session:
        context = _versions_context(session, key)
        try:
            old = platform().repository.version(session, key, _int_arg("from"))
            new = platform().repository.version(session, key, _int_arg("to"))
        except (NotFound, ValidationFailed) as exc:
            flash(exc.message, "error")
            return redirect(url_for("processes.versions", key=key))
        changes = [c.as_dict() for c in bpmn_diff(old.bpmn_xml.encode("utf-8"), new.bpmn_xml.encode("utf-8"))]
        old_dmn, new_dmn = monitoring.dmn_files(old), monitoring.dmn_files(new)
        dmn_changes = [(name, "added" if name not in old_dmn else "removed" if name not in new_dmn else "changed")
                       for name in sorted(old_dmn.keys() | new_dmn.keys()) if old_dmn.get(name) != new_dmn.get(name)]
    return render_template("admin/process_diff.html", **context, old=old, new=new, changes=changes,
                           dmn_changes=dmn_changes)


@bp.post("/<key>/versions/<int:number>/redeploy")
@roles_required("admin")
def redeploy(key, number):
    try:
        with platform().db.write() as session:
            definition, created = platform().repository.redeploy(session, key, number, g.user.username)
            version = definition.version
    except DomainError as exc:
        flash(exc.message, "error")
        return redirect(url_for("processes.versions", key=key))
    if created:
        flash(_("Version %(old)s deployed again as version %(new)s.", old=number, new=version), "success")
    else:
        flash(_("Version %(old)s is already the newest: nothing deployed.", old=number), "success")
    return redirect(url_for("processes.versions", key=key))


@bp.post("/<key>/migrate")
@roles_required("admin")
def migrate(key):
    dry_run = request.form.get("dry_run") == "1"
    try:
        source, target = _int_arg("from"), _int_arg("to")
        with platform().db.write() as session:
            plan = migration.plan_or_migrate(session, platform().repository, platform().runtime, platform().history,
                                             key, source, target, dry_run=dry_run, actor=g.user.username)
    except DomainError as exc:
        flash(exc.message + "".join(f" {m}" for m in exc.fields.values()), "error")
        return redirect(url_for("processes.versions", key=key))
    with platform().db.read() as session:
        return render_template("admin/process_versions.html", **_versions_context(session, key), plan=plan)


@bp.post("/instances/<int:instance_id>/resume")
@roles_required("admin")
def resume(instance_id):
    """Run an erroring instance again (its tasks reopen); back to the page it was resumed from."""
    try:
        with platform().db.write() as session:
            platform().runtime.resume(session, instance_id, g.user.username, request.form.get("reason", "")[:2000])
        flash(_("Instance %(id)s runs again; its tasks are back in the inboxes.", id=instance_id), "success")
    except DomainError as exc:
        flash(exc.message, "error")
    key, number = request.form.get("key", ""), request.form.get("number", type=int)
    if key and number:
        return redirect(url_for("processes.instances", key=key, number=number, filter="erroring"))
    contract_id = request.form.get("contract_id", type=int)
    return redirect(url_for("contracts.show", contract_id=contract_id) if contract_id else url_for("processes.index"))


@bp.get("/<key>/versions/<int:number>/instances")
@roles_required("admin")
def instances(key, number):
    condition = request.args.get("filter", "all")
    if condition not in monitoring.FILTERS:
        condition = "all"
    with platform().db.read() as session:
        try:
            definition = platform().repository.version(session, key, number)
        except NotFound as exc:
            abort(404, exc.message)
        rows = monitoring.instances(session, definition.id, condition)
    return render_template("admin/process_instances.html", key=key, definition=definition, rows=rows,
                           condition=condition, filters=monitoring.FILTERS)


@bp.get("/instances/<int:instance_id>/trace.json")
@roles_required("admin")
def instance_trace(instance_id):
    with platform().db.read() as session:
        try:
            return jsonify(_trace(session, instance_id))
        except NotFound as exc:
            return jsonify({"error": "not_found", "message": exc.message}), 404


def _trace(session, instance_id):
    try:
        return monitoring.instance_trace(session, platform().repository, platform().runtime, instance_id)
    except NotFound:
        raise
    except Exception as exc:  # a state that does not restore: say so on the card instead of a 500
        log.exception("cannot trace process instance %s", instance_id)
        raise NotFound(f"the process state of instance {instance_id} cannot be shown: {type(exc).__name__}") from exc


# --- the editors ----------------------------------------------------------------------
def _editing(key):
    """The newest version, which the editors start from, and its decision tables' file names; never every version's
    rows (the versions page's context), which a process edited for a year has many of."""
    with platform().db.read() as session:
        latest = platform().repository.latest(session, key, required=False)
    if latest is None:
        abort(404, _("No process %(key)s is deployed.", key=key))
    return {"key": key, "latest": latest, "dmn_names": sorted(monitoring.dmn_files(latest))}


@bp.get("/<key>/edit")
@roles_required("admin")
def edit(key):
    return render_template("admin/process_modeler.html", **_editing(key),
                           role_names={role: str(ROLE_LABELS.get(role, role)) for role in ROLES},
                           editor_texts=in_current_language(BPMN_JS))


@bp.get("/<key>/edit/dmn/<filename>")
@roles_required("admin")
def edit_dmn(key, filename):
    context = _editing(key)
    if filename not in context["dmn_names"]:
        abort(404, _("Version %(v)s has no file %(f)s.", v=context["latest"].version, f=filename))
    return render_template("admin/process_dmn.html", **context, filename=filename,
                           editor_texts=in_current_language(DMN_JS))


@bp.get("/<key>/latest.json")
@roles_required("admin")
def latest(key):
    with platform().db.read() as session:
        definition = platform().repository.latest(session, key, required=False)
        if definition is None:
            return jsonify({"error": "not_found", "message": f"no process {key!r}"}), 404
        return jsonify({"key": key, "version": definition.version, "sha256": definition.sha256,
                        "bpmn_xml": definition.bpmn_xml, "dmn": monitoring.dmn_files(definition)})


def _fail(status, message, fields=None):
    return jsonify({"error": "invalid_definition" if status == 422 else "conflict" if status == 409 else "bad_request",
                    "message": message, "fields": fields or {}}), status


@bp.post("/<key>/deploy")
@roles_required("admin")
def deploy(key):
    """JSON {base_version, bpmn_xml?, dmn?: {filename: xml}}: the files not sent are the latest version's."""
    if (request.content_length or 0) > MAX_DEPLOY_BYTES:
        return _fail(413, _("The diagram is too large."))
    try:
        body = json_body() if request.get_data(cache=True) else None
    except MalformedRequest as exc:
        return _fail(400, exc.message, exc.fields)
    if not isinstance(body, dict):
        return _fail(400, _("Send a JSON object."))
    bpmn_xml, dmn, base = body.get("bpmn_xml"), body.get("dmn") or {}, body.get("base_version")
    if (bpmn_xml is not None and not isinstance(bpmn_xml, str)) or not isinstance(dmn, dict) \
            or not all(isinstance(v, str) for v in dmn.values()):
        return _fail(400, _("bpmn_xml and the dmn files must be text."))
    try:
        for text in [bpmn_xml or "", *dmn.values()]:
            text.encode("utf-8")
    except UnicodeEncodeError:
        return _fail(400, _("bpmn_xml and the dmn files must be text."))
    try:
        with platform().db.write() as session:
            current = platform().repository.latest(session, key)
            if base is not None and base != current.version:
                raise Conflict(_("Version %(v)s was deployed by %(who)s since you opened the editor: reload it "
                                 "(your changes are lost) or download yours first.", v=current.version,
                                 who=current.deployed_by))
            files = monitoring.dmn_files(current)
            unknown = sorted(set(dmn) - set(files))
            if unknown:
                raise InvalidDefinition(_("Unknown decision table file: %(f)s", f=", ".join(unknown)),
                                        {name: _("not a file of this process") for name in unknown})
            files.update(dmn)
            definition, created = platform().repository.deploy(
                session, (bpmn_xml if bpmn_xml is not None else current.bpmn_xml).encode("utf-8"),
                {n: x.encode("utf-8") for n, x in files.items()}, g.user.username, expected_key=key)
            result = {"version": definition.version, "created": created, "sha256": definition.sha256}
    except NotFound as exc:
        return _fail(404, exc.message)
    except Conflict as exc:
        return _fail(409, exc.message)
    except DomainError as exc:
        return _fail(422, exc.message, exc.fields)
    result["message"] = (_("Version %(v)s deployed.", v=result["version"]) if result["created"]
                         else _("Nothing changed: version %(v)s is identical.", v=result["version"]))
    return jsonify(result), 201 if result["created"] else 200


# --- the contract page's diagram ----------------------------------------------------------
@diagram_bp.get("/<int:contract_id>/process.json")
@roles_required(*sorted(STAFF_ROLES))
def contract_process(contract_id):
    with platform().db.read() as session:
        try:
            platform().contracts.get(session, contract_id)
            instance = platform().contracts.instance(session, contract_id)
            if instance is None:
                raise NotFound(f"contract {contract_id} has no process")
            return jsonify(_trace(session, instance.id))
        except NotFound as exc:
            return jsonify({"error": "not_found", "message": exc.message}), 404
