"""REST API under /api/v1: bearer tokens (or the staff browser session), JSON errors ``{"error", "message", "fields"}``.

Each route reads the request, calls one use case of ``workflows`` (which enforces who may do what on which contract and
owns its transaction) and shapes JSON. The routes by area: ``contracts.py`` (drafts, documents, history),
``tasks.py`` (the inbox and decisions), ``signing.py`` (letters, the signing act, signers), ``lifecycle.py``
(renewal, non-renewal, termination), ``amendments.py`` (changes of an active contract), ``openapi.py``.
"""
import logging

from flask import Blueprint, current_app, g, jsonify, request
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from workflows.actors import STAFF_ROLES
from workflows.errors import DomainError, Forbidden, ValidationFailed

from ..errors import status_of, with_retry_after
from ..inputs import LARGEST_OFFSET, json_body, whole_number

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
MAX_PAGE = 200


def platform():
    return current_app.extensions["qianyue"]


def error(status, code, message, fields=None):
    response = jsonify({"error": code, "message": message, "fields": fields or {}})
    response.status_code = status
    return response


@bp.errorhandler(DomainError)
def on_domain_error(exc):
    return with_retry_after(error(status_of(exc), exc.code, exc.message, exc.fields), exc)


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
    """A bearer token, or a signed-in browser session (whose unsafe requests must carry the CSRF token). The caller
    acts as staff, or, for an integration account with only the customer role, as its customer identity."""
    if request.endpoint == "api.openapi":
        return None
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() == "bearer" and token:
        with platform().db.read() as session:
            g.user = platform().accounts.user_for_token(session, token.strip())
        if g.user is None:
            return error(401, "unauthorized", "the token is unknown or revoked")
    elif g.get("user") is None:
        return error(401, "unauthorized", "send an API token (Authorization: Bearer <token>) or sign in")
    elif request.method not in ("GET", "HEAD", "OPTIONS"):
        try:
            validate_csrf(request.headers.get("X-CSRFToken"))
        except ValidationError:
            return error(400, "csrf_failed", "send the page's CSRF token in the X-CSRFToken header")
    g.actor = g.user
    if not g.user.role_set & STAFF_ROLES and "customer" in g.user.role_set:
        with platform().db.read() as session:
            g.actor = platform().customers.actor_for_api_user(session, g.user)
    return None


def require_staff():
    if not g.user.role_set & STAFF_ROLES:
        raise Forbidden("this is for the provider's staff")


def json_object():
    """The request's JSON object; 422 naming the body when it is another JSON value."""
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object", {"": "expected an object"})
    return body


def page_args():
    return whole_number("limit", 50, 1, MAX_PAGE), whole_number("offset", 0, high=LARGEST_OFFSET)


from . import absences, amendments, contracts, dashboards, lifecycle, payments, signing, tasks  # noqa: E402,F401  (each registers its routes on bp)
