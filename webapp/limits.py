"""Request rate limits per address, per signer and per API token, counted where every process and node sees them.

Flask-Limiter over ``RATELIMIT_STORAGE_URI``: Redis in production (every process and node that names the same
storage shares one count), ``memory://`` by default (one process: ``make run``). A moving window, so a limit of 10 a
minute is never 20 across a minute's edge; if the storage stops answering, each process counts in memory until it
answers again. These limits bound floods and what they cost (password hashing, mail and SMS, PDF verification,
time-stamp signatures); the rules of the domain hold with or without them: the sign-in throttle per account and
address (``workflows/services/sessions.py``) and the limits on one-time codes (``workflows/signing/intent.py``) are
counted in the database. A limit reached answers 429 with ``Retry-After``: JSON under ``/api/``, a page elsewhere.

Every limit is in ``LIMITS`` below (values from the ``RATELIMIT_*`` settings, checked by ``workflows.settings``); each
app gets a limiter of its own, so two apps in one process (tests) count apart unless they name the same shared storage.
"""
import hashlib
import logging
import math
import time

from flask import g, request
from flask_limiter import Limiter

from workflows.actors import CustomerActor

from .api import bp as api_bp
from .security import client_ip

log = logging.getLogger(__name__)
EXTENSION = "qianyue_limiter"
INTENT = ("api.request_contract_intent_code", "api.request_intent_code", "tasks.intent", "customer.intent")


def by_address():
    return "address:" + client_ip()


def by_signer():
    """Who asks for a one-time code: the customer on the signing page, else the API caller or the staff user (each as
    the history names them); the address while nobody is signed in."""
    if request.blueprint == "customer":
        who = g.get("customer") and CustomerActor.of(g.customer).username
    else:
        who = getattr(g.get("actor") or g.get("user"), "username", None)
    return f"signer:{who}" if who else by_address()


def by_api_caller():
    """The bearer token (its SHA-256: the storage never sees a token), else the signed-in user, else the address (an
    anonymous caller is counted before anyone looks it up)."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return "token:" + hashlib.sha256(token.strip().encode()).hexdigest()
    if g.get("user") is not None:
        return "user:" + g.user.username
    return by_address()


# setting, counted by, scope (one count across the endpoints that share it), endpoints (their POSTs), what is limited
LIMITS = [
    ("RATELIMIT_SIGN_IN", by_address, "sign-in", ("auth.login", "idp.login"), "sign-in attempts from this address"),
    ("RATELIMIT_INTENT_SIGNER", by_signer, "intent-signer", INTENT, "confirmation codes requested for this signer"),
    ("RATELIMIT_INTENT_ADDRESS", by_address, "intent-address", INTENT, "confirmation codes requested from this address"),
    ("RATELIMIT_VERIFY", by_address, "verify", ("verify.verify_page",), "uploads from this address"),
    ("RATELIMIT_TSA", by_api_caller, "tsa", ("tsa.timestamp",), "time-stamp requests with this token"),
]


def init_app(app):
    """A limiter for this app; the routes' limits from ``LIMITS`` and the API's per caller (after the blueprints are
    registered: the limits wrap the registered views)."""
    if app.config["APP_ENV"] == "production" and app.config["RATELIMIT_STORAGE_URI"].startswith("memory://"):
        log.warning("RATELIMIT_STORAGE_URI is memory://: each process counts its own requests (set redis://...)")
    limiter = Limiter(by_address, strategy="moving-window", in_memory_fallback_enabled=True)
    limiter.init_app(app)  # RATELIMIT_ENABLED, RATELIMIT_STORAGE_URI and RATELIMIT_KEY_PREFIX from app.config
    app.extensions[EXTENSION] = limiter
    for setting, key, scope, endpoints, what in LIMITS:
        limit = limiter.shared_limit(app.config[setting], scope, key_func=key, methods=["POST"], override_defaults=False,
                                     error_message=f"too many {what}; try again later (see Retry-After)")
        for endpoint in endpoints:
            if endpoint.split(".")[0] in app.blueprints:  # /idp only when the embedded provider is on
                app.view_functions[endpoint] = limit(app.view_functions[endpoint])  # KeyError: an endpoint renamed
    limiter.shared_limit(app.config["RATELIMIT_API"], "api", key_func=by_api_caller, override_defaults=False,
                         error_message="too many requests with this token; try again later (see Retry-After)")(api_bp)


def retry_after(app):
    """Whole seconds until the limit this request broke lets one more through (at least 1)."""
    breached = app.extensions[EXTENSION].current_limit
    if breached is None:
        return 60
    return max(1, math.ceil(breached.window.reset_time - time.time()))
