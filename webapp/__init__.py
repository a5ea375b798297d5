"""The Flask app: it translates HTTP to calls on the use cases in ``workflows`` and renders their answers.

Where the code for a URL lives (one blueprint module per area, each calling ``workflows`` services):
``/api/v1/...`` → ``api/`` (``contracts.py``, ``tasks.py``, ``signing.py``); ``/inbox`` → ``views/inbox.py``;
``/tasks/...`` → ``views/tasks.py``; ``/contracts/...`` → ``views/contracts.py`` (``.../invitation`` →
``views/customer.py``); ``/admin/...`` → ``views/admin.py``, ``templates_admin.py``, ``letters_admin.py``,
``processes.py``; ``/portal``, ``/invitations/...``, ``/sign/...`` → ``views/customer.py``; ``/auth/oidc/...`` →
``oidc.py``; ``/idp/...`` → ``idp/``; ``/verify`` → ``verify.py``; ``/tsa`` → ``tsa.py``; ``/login`` →
``views/auth.py``.
"""
from datetime import timedelta

from flask import Flask, abort, current_app, make_response, render_template, request
from flask_babel import gettext as _
from werkzeug.exceptions import NotFound
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import IntegerConverter

from workflows import logs
from workflows.clock import utcnow
from workflows.errors import DomainError
from workflows.platform import Platform
from workflows.worker import start_in_process

from . import assets
from . import config as app_config
from . import health, i18n, idp, labels, limits, oidc, request_log, security, tsa, verify
from .api import bp as api_bp
from .api import on_http_error
from .inputs import LARGEST_ID
from .cli import register_cli
from .errors import status_of, with_retry_after
from .views import absences, admin, auth, contracts, customer, dashboards, inbox, letters_admin, payments, processes, tasks, templates_admin


def create_app(config=None):
    """The app under the environment's settings and ``config`` (tests override settings and Flask's own keys);
    ``SettingsError`` names every setting that is wrong."""
    settings = app_config.settings(config)
    logs.configure(settings.LOG_FORMAT, settings.LOG_LEVEL)
    app = Flask(__name__, instance_relative_config=False)
    app.config.update(app_config.flask_config(settings, config))
    if app.config["TRUSTED_PROXIES"]:
        proxies = app.config["TRUSTED_PROXIES"]
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies)
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.url_map.converters["int"] = IdConverter  # before any route is added
    app.extensions["qianyue"] = Platform(
        settings.DATABASE_URL, audit_key=settings.AUDIT_KEY.get_secret_value().encode(), mail_settings=settings.mail(),
        base_url=settings.BASE_URL, webhook_url=settings.WEBHOOK_URL,
        webhook_secret=settings.WEBHOOK_SECRET.get_secret_value(), signing_settings=settings.signing(),
        log_codes=not settings.production and not settings.MAIL_SERVER, digest_at=settings.DIGEST_AT,
        payment_reminder_days=settings.PAYMENT_REMINDER_DAYS,
        job_lease=timedelta(seconds=settings.JOB_LEASE_SECONDS) if settings.JOB_LEASE_SECONDS else None,
        job_retention=timedelta(days=settings.JOB_RETENTION_DAYS))

    request_log.init_app(app)  # first: every later hook logs under the request's id
    security.init_app(app)
    i18n.init_app(app)
    labels.init_app(app)
    assets.init_app(app)
    security.csrf.exempt(api_bp)  # bearer tokens need no CSRF; cookie callers are checked in the API itself
    app.register_blueprint(api_bp)
    for blueprint in (auth.bp, inbox.bp, tasks.bp, contracts.bp, payments.bp, dashboards.bp, absences.bp, admin.bp, templates_admin.bp, letters_admin.bp,
                      processes.bp, processes.diagram_bp):
        app.register_blueprint(blueprint)
    for blueprint in (verify.bp, tsa.bp, health.bp):  # public upload / machine protocols: no session, no CSRF token
        security.csrf.exempt(blueprint)
        app.register_blueprint(blueprint)
    idp.init_app(app)  # customers: the embedded OIDC provider (when enabled), the relying party, /sign and /portal
    oidc.init_app(app)
    customer.init_app(app)
    limits.init_app(app)  # after every blueprint: it wraps the views it limits
    register_cli(app)

    @app.before_request
    def refuse_nul_characters():
        """No text column takes U+0000 on PostgreSQL; refuse it at the door (in the path, the query or the form) rather
        than fail at the database."""
        if "\x00" in request.path or any("\x00" in value for source in (request.args, request.form)
                                         for values in source.listvalues() for value in values):
            abort(400, "the request contains a NUL character")

    @app.get("/favicon.ico")
    def favicon():
        """Browsers ask for it at the root whatever the page links."""
        return app.send_static_file("favicon.ico")

    @app.context_processor
    def clock():
        return {"now": utcnow()}

    for status in (403, 404):
        app.register_error_handler(status, lambda exc, status=status: _error_page(exc, status))
    app.register_error_handler(429, _too_many_requests)
    app.register_error_handler(DomainError, _domain_error_page)
    if app.config["RUN_WORKER"]:  # last: every job kind is registered by now
        start_in_process(app.extensions["qianyue"].jobs)
    return app


class IdConverter(IntegerConverter):
    """``<int:...>`` in every route: an id, version or number that fits the database's INTEGER columns. A larger one
    names nothing: 404, rather than an overflow in the database (and not werkzeug's 405 for a rejected value where
    another method's rule has the same path)."""

    def to_python(self, value):
        if len(value) > len(str(LARGEST_ID)) or int(value) > LARGEST_ID:
            raise NotFound()
        return int(value)


def _domain_error_page(exc):
    """A domain error that escaped a page (an unknown id, a step that moved on): its status, never a 500."""
    status = status_of(exc)
    return with_retry_after(make_response(render_template("error.html", status=status, message=exc.message), status),
                            exc)


def _too_many_requests(exc):
    """A rate limit reached (``limits.py``): JSON under /api/, else a page; either says when to come back."""
    wait = limits.retry_after(current_app)
    if request.path.startswith("/api/"):
        response = on_http_error(exc)
    else:
        message = _("Too many requests. Wait %(seconds)s seconds and try again.", seconds=wait)
        response = make_response(render_template("error.html", status=429, message=message), 429)
    response.headers["Retry-After"] = str(wait)
    return response


def _error_page(exc, status):
    """HTML for pages; the API answers JSON for the same statuses."""
    if request.path.startswith("/api/"):
        return on_http_error(exc)
    return render_template("error.html", status=status, message=exc.description), status
