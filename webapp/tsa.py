"""POST /tsa: the deployment's RFC 3161 time-stamping authority over HTTP (application/timestamp-query).

It answers the product's own nodes and staff integrations, with an API token (``TSA_TOKEN`` on a node whose
``TSA_URL`` points here); anonymous requests get 401 (``AccessService.require_timestamp_client``).
"""
from flask import Blueprint, Response, current_app, request

from workflows.errors import DomainError

from .errors import status_of, with_retry_after

bp = Blueprint("tsa", __name__)
MAX_REQUEST = 16 * 1024


def _client(platform):
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    with platform.db.read() as session:
        return platform.accounts.user_for_token(session, token.strip())


@bp.route("/tsa", methods=["POST"])
def timestamp():
    platform = current_app.extensions["qianyue"]
    try:
        platform.access.require_timestamp_client(_client(platform))
    except DomainError as exc:
        refused = Response(exc.message, status=status_of(exc), mimetype="text/plain",
                           headers={"WWW-Authenticate": 'Bearer realm="tsa"'} if status_of(exc) == 401 else {})
        return with_retry_after(refused, exc)  # the database did not answer: 503, come back later
    if request.mimetype != "application/timestamp-query":
        return Response("expected application/timestamp-query", status=415, mimetype="text/plain")
    if (request.content_length or 0) > MAX_REQUEST:
        return Response("request too large", status=413, mimetype="text/plain")
    body = request.get_data(cache=False)[:MAX_REQUEST + 1]
    if len(body) > MAX_REQUEST:
        return Response("request too large", status=413, mimetype="text/plain")
    reply = platform.toolkit().authority.respond(body)
    return Response(reply, mimetype="application/timestamp-reply")
