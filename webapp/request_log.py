"""Each request's id and its access log line. The id is kept where every log record finds it (``workflows/logs.py``):
a trusted proxy's ``X-Request-ID`` when well-formed, else a new one; it is sent back in ``X-Request-ID``.

The line also says what the request cost: ``cpu_ms``, the CPU time of the thread that served it (under gunicorn's
threads, that request's own), and ``statements``, what it sent to the database (``workflows.db.StatementCount``);
bench/load.py adds them up per endpoint."""
import logging
import time

from flask import g, request

from workflows.actors import CustomerActor
from workflows.db import StatementCount
from workflows.logs import REQUEST_ID, request_id_from

HEADER = "X-Request-ID"
log = logging.getLogger("webapp.access")


def init_app(app):
    """First of the app's request hooks, so every other one (and every refusal) logs under the id."""
    believe_proxy = app.config["TRUSTED_PROXIES"] > 0

    @app.before_request
    def open_request():
        g.request_started, g.request_cpu, g.statements = time.perf_counter(), time.thread_time(), StatementCount()
        g.request_id_token = REQUEST_ID.set(request_id_from(request.headers.get(HEADER) if believe_proxy else None))

    @app.after_request
    def access_log(response):
        response.headers[HEADER] = REQUEST_ID.get()
        duration = round((time.perf_counter() - g.request_started) * 1000, 1)
        cpu, statements = round((time.thread_time() - g.request_cpu) * 1000, 1), g.statements.value
        log.info("%s %s %s %s ms (CPU %s ms, %s statements)", request.method, request.path, response.status_code,
                 duration, cpu, statements,
                 extra={"method": request.method, "path": request.path, "status": response.status_code,
                        "duration_ms": duration, "cpu_ms": cpu, "statements": statements, "user": _user()})
        return response

    @app.teardown_request
    def close_request(exc):
        counting = g.pop("statements", None)
        if counting is not None:
            counting.stop()
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
