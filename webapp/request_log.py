"""Each request's id and its access log line. The id is kept where every log record finds it (``workflows/logs.py``):
a trusted proxy's ``X-Request-ID`` when well-formed, else a new one; it is sent back in ``X-Request-ID``."""
import logging
import time

from flask import g, request

from workflows.actors import CustomerActor
from workflows.logs import REQUEST_ID, request_id_from

HEADER = "X-Request-ID"
log = logging.getLogger("webapp.access")


def init_app(app):
    """First of the app's request hooks, so every other one (and every refusal) logs under the id."""
    believe_proxy = app.config["TRUSTED_PROXIES"] > 0

    @app.before_request
    def open_request():
        g.request_started = time.perf_counter()
        g.request_id_token = REQUEST_ID.set(request_id_from(request.headers.get(HEADER) if believe_proxy else None))

    @app.after_request
    def access_log(response):
        response.headers[HEADER] = REQUEST_ID.get()
        duration = round((time.perf_counter() - g.request_started) * 1000, 1)
        log.info("%s %s %s %s ms", request.method, request.path, response.status_code, duration,
                 extra={"method": request.method, "path": request.path, "status": response.status_code,
                        "duration_ms": duration, "user": _user()})
        return response

    @app.teardown_request
    def close_request(exc):
        token = g.pop("request_id_token", None)
        if token is not None:
            REQUEST_ID.reset(token)


def _user():
    """Who made the request, as the history names them; None when nobody is signed in."""
    staff = g.get("actor") or g.get("user")
    if staff is not None:
        return staff.username
    customer = g.get("customer")
    return CustomerActor.of(customer).username if customer is not None else None
