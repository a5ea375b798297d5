"""REST API under /api/v1: bearer tokens, JSON errors ``{"error", "message", "fields"}``."""
import logging

from flask import Blueprint, abort, current_app, g, jsonify, request
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from workflows.errors import DomainError, Forbidden

from ..errors import status_of

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)

STAFF_ROLES = {"sales", "legal", "finance", "provider", "admin"}


def platform():
    return current_app.extensions["qianyue"]


def error(status, code, message, fields=None):
    response = jsonify({"error": code, "message": message, "fields": fields or {}})
    response.status_code = status
    return response


@bp.errorhandler(DomainError)
def on_domain_error(exc):
    return error(status_of(exc), exc.code, exc.message, exc.fields)


@bp.app_errorhandler(HTTPException)
def on_http_error(exc):
    """JSON under /api/ (routing errors such as 404 and 405 never reach the blueprint's own handlers)."""
    if not request.path.startswith(bp.url_prefix + "/"):
        return exc
    return error(exc.code or 500, exc.name.lower().replace(" ", "_"), exc.description)


@bp.errorhandler(Exception)
def on_unexpected(exc):
    if isinstance(exc, HTTPException):
        return on_http_error(exc)
    log.exception("unexpected error on %s %s", request.method, request.path)
    return error(500, "internal_error", "an unexpected error occurred; it has been logged")


@bp.before_request
def authenticate():
    """A bearer token, or a signed-in browser session (whose unsafe requests must carry the CSRF token)."""
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        with platform().db.read() as session:
            g.user = platform().accounts.user_for_token(session, token.strip())
        return None if g.user else error(401, "unauthorized", "the token is unknown or revoked")
    if g.get("user") is None:
        return error(401, "unauthorized", "send an API token (Authorization: Bearer <token>) or sign in")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            return error(400, "csrf_failed", "send the page's CSRF token in the X-CSRFToken header")
    return None


def require_role(*roles):
    if not g.user.role_set & set(roles):
        raise Forbidden(f"this needs one of the roles: {', '.join(roles)}")


def json_body():
    """The request's JSON object; a clear 400 for anything else."""
    body = request.get_json(silent=True)
    if body is None:
        if request.content_length or request.data:
            abort(400, "the body is not valid JSON (send Content-Type: application/json)")
        return {}
    if _has_nul(body):
        abort(400, "the body contains a NUL character (U+0000), which no text field can store")
    return body


def _has_nul(value):
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


from . import routes  # noqa: E402,F401  (registers the routes on bp)
from . import letters  # noqa: E402,F401  (commitment letters and the final package)
