"""POST /tsa: the deployment's RFC 3161 time-stamping authority over HTTP (application/timestamp-query)."""
from flask import Blueprint, Response, current_app, request

bp = Blueprint("tsa", __name__)
MAX_REQUEST = 16 * 1024


@bp.route("/tsa", methods=["POST"])
def timestamp():
    if request.mimetype != "application/timestamp-query":
        return Response("expected application/timestamp-query", status=415, mimetype="text/plain")
    if (request.content_length or 0) > MAX_REQUEST:
        return Response("request too large", status=413, mimetype="text/plain")
    body = request.get_data(cache=False)[:MAX_REQUEST + 1]
    if len(body) > MAX_REQUEST:
        return Response("request too large", status=413, mimetype="text/plain")
    reply = current_app.extensions["qianyue"].toolkit().authority.respond(body)
    return Response(reply, mimetype="application/timestamp-reply")
