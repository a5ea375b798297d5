"""``/healthz`` (the process answers) and ``/readyz`` (it can serve: ``HealthService.readiness``; then also the
fingerprint of the PKI's root, so that an operator sees every node sign under one), for the load balancer and the
cluster scripts; no session, no CSRF, no rate limit."""
from flask import Blueprint, current_app, jsonify

bp = Blueprint("health", __name__)


@bp.get("/healthz")
def alive():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
def ready():
    checks = current_app.extensions["qianyue"].health.readiness()
    ok = all(verdict == "ok" for verdict in checks.values())  # a check not run is behind one that failed
    answer = {"status": "ready" if ok else "not ready", "checks": checks}
    if ok:
        answer["pki_root"] = current_app.extensions["qianyue"].health.pki_root()
    response = jsonify(answer)
    response.status_code = 200 if ok else 503
    if not ok:
        response.headers["Retry-After"] = "5"
    return response
