"""REST API under /api/v1: bearer tokens (or the staff browser session), JSON errors ``{"error", "message", "fields"}``.

Each route reads the request, calls one use case of ``workflows`` (which enforces who may do what on which contract and
owns its transaction) and shapes JSON. The routes by area: ``contracts.py`` (drafts, documents, history),
``tasks.py`` (the inbox and decisions), ``signing.py`` (letters, the signing act, signers), ``openapi.py``.
"""
import json
import logging
import re

from flask import Blueprint, current_app, g, jsonify, request
from flask_wtf.csrf import validate_csrf
from werkzeug.exceptions import HTTPException
from wtforms import ValidationError

from workflows.actors import STAFF_ROLES
from workflows.errors import DomainError, Forbidden, ValidationFailed

from ..errors import MalformedRequest, status_of, with_retry_after

bp = Blueprint("api", __name__, url_prefix="/api/v1")
log = logging.getLogger(__name__)
MAX_PAGE = 200
MAX_JSON_DEPTH = 32  # a contract nests 3 levels; far below the parser's recursion limit
LARGEST_ID = 2**31 - 1  # ids and versions are INTEGER columns, which on PostgreSQL hold 4 bytes
LARGEST_OFFSET = 2**63 - 1  # OFFSET takes a bigint
SURROGATE = re.compile("[\ud800-\udfff]")


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


def json_body():
    """The request's JSON value ({} when there is no body). A body that cannot be read is 400 and changes nothing: not
    JSON, nested deeper than MAX_JSON_DEPTH (the parser's recursion is bounded), or text (a key or a value) that no
    database column stores, U+0000 or a lone surrogate, named by its dotted path in ``fields``."""
    data = request.get_data(cache=True)
    if not data:
        return {}
    if not request.is_json:
        raise MalformedRequest("the body is not JSON (send Content-Type: application/json)")
    try:
        body = json.loads(data)
    except RecursionError:
        raise MalformedRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels")
    except ValueError:
        raise MalformedRequest("the body is not valid JSON (send Content-Type: application/json)")
    check_readable(body)
    return body


def json_object():
    """The request's JSON object; 422 naming the body when it is another JSON value."""
    body = json_body()
    if not isinstance(body, dict):
        raise ValidationFailed("send a JSON object", {"": "expected an object"})
    return body


def check_readable(body):
    """Walk the parsed body (without recursion): 400 past MAX_JSON_DEPTH levels, and naming every key or text that
    holds U+0000 or a lone surrogate (a JSON escape such as \\ud800 decodes to one; UTF-8 cannot carry it)."""
    problems, pending = {}, [("", body, 0)]
    while pending:
        path, value, depth = pending.pop()
        if depth > MAX_JSON_DEPTH:
            raise MalformedRequest(f"the body nests deeper than {MAX_JSON_DEPTH} levels", {path: "nested too deeply"})
        if isinstance(value, str) and _text_problem(value):
            problems[path] = _text_problem(value)
        elif isinstance(value, dict):
            for key, item in value.items():
                at = _joined(path, _printable(key))
                if _text_problem(key):
                    problems[at] = "its name " + _text_problem(key)
                pending.append((at, item, depth + 1))
        elif isinstance(value, list):
            pending.extend((_joined(path, str(index)), item, depth + 1) for index, item in enumerate(value))
    if problems:
        raise MalformedRequest("the body holds text that cannot be stored: " + ", ".join(sorted(problems)), problems)


def _text_problem(text):
    """Why no column can store ``text`` (None: it can)."""
    if "\x00" in text:
        return "contains a NUL character (U+0000), which no text field can store"
    if SURROGATE.search(text):
        return "contains a lone surrogate (U+D800 to U+DFFF), which is not Unicode text"
    return None


def _printable(text):
    return text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")


def _joined(path, name):
    return f"{path}.{name}" if path else name


def whole_number(name, default=None, low=0, high=LARGEST_ID):
    """A query argument that is a whole number from ``low`` to ``high`` (``default`` when absent); 422 naming the
    argument otherwise, never clamped: a number past what the database compares would fail there."""
    value = request.args.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= len(str(high)) and low <= int(value) <= high):
        expected = f"a whole number from {low} to {high}"
        raise ValidationFailed(f"{name} is {expected}", {name: expected})
    return int(value)


def page_args():
    return whole_number("limit", 50, 1, MAX_PAGE), whole_number("offset", 0, high=LARGEST_OFFSET)


from . import contracts, signing, tasks  # noqa: E402,F401  (each registers its routes on bp)
