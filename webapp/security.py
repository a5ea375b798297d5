"""Who is asking: staff browser sessions, decorators for pages, CSRF for forms; the headers every response carries."""
from functools import wraps

from flask import Response, abort, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect
from werkzeug.serving import WSGIRequestHandler

csrf = CSRFProtect()
SESSION_KEY = "sid"

# Pages run only the product's own scripts (the modelers' bundles included: neither needs eval). Inline styles stay
# allowed: bpmn-js and dmn-js set them, and a style cannot run code. Only our own pages may frame ours (the previews).
PAGE_POLICY = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data: blob:; "
               "font-src 'self' data:; connect-src 'self'; frame-src 'self'; frame-ancestors 'self'; "
               "object-src 'none'; base-uri 'self'")
# A contract rendered from an administrator's template is shown, never run: no script, nothing fetched from anywhere.
DOCUMENT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; font-src data:; img-src data:; "
                   "frame-ancestors 'self'; base-uri 'none'; form-action 'none'")
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "SAMEORIGIN",
    "Referrer-Policy": "same-origin",  # invitation links carry a token: other sites never see our URLs
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), microphone=(), geolocation=(), payment=()",
}
HSTS = "max-age=31536000; includeSubDomains"


def document_response(html):
    """A rendered contract (a preview for staff or the customer): its own policy, stricter than a page's."""
    response = Response(html, mimetype="text/html")
    response.headers["Content-Security-Policy"] = DOCUMENT_POLICY
    return response


def secure_headers(response):
    """After each request: the policy and the browser protections, unless the view set its own policy; HSTS when the
    deployment is served over HTTPS."""
    response.headers.setdefault("Content-Security-Policy", PAGE_POLICY)
    for name, value in HEADERS.items():
        response.headers.setdefault(name, value)
    if request.is_secure or current_app.config["BASE_URL"].startswith("https://"):
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


class QuietRequestHandler(WSGIRequestHandler):
    """The development server without its banner (a Server header naming versions helps only an attacker) and without
    its own request lines."""

    def version_string(self):
        return "Qianyue"

    def log_request(self, code="-", size="-"):
        """The app logs each request itself (``webapp/request_log.py``: with its id, user and duration)."""


def platform():
    return current_app.extensions["qianyue"]


def client_ip():
    """The client's address: the peer's, or behind ``TRUSTED_PROXIES`` reverse proxies the one they forwarded
    (werkzeug's ProxyFix, set up in ``create_app``)."""
    return request.remote_addr or ""


def load_session_user():
    """Before each request: the staff user of the session cookie, if any (g.user stays None otherwise). Not for a
    static file: it is public, and a page links a dozen."""
    g.user = None
    token = session.get(SESSION_KEY)
    if token and request.endpoint != "static":
        with platform().db.read() as db_session:
            g.user = platform().sessions.user_for(db_session, token)
        if g.user is None:
            session.pop(SESSION_KEY, None)


def start_session(token):
    """Rotate: nothing of the anonymous session survives sign-in (no fixation)."""
    language = session.get("lang")
    session.clear()
    g.pop("csrf_token", None)  # the old token died with the old session
    session[SESSION_KEY] = token
    session.permanent = True
    if language:
        session["lang"] = language


def login_required(view):
    @wraps(view)
    def wrapped(*args, **kwargs):
        if g.get("user") is None:
            return redirect(url_for("auth.login", next=request.full_path if request.query_string else request.path))
        return view(*args, **kwargs)
    return wrapped


def roles_required(*roles):
    """The page needs one of ``roles``; anyone else signed in gets 403."""
    def decorate(view):
        @wraps(view)
        @login_required
        def wrapped(*args, **kwargs):
            if not g.user.role_set & set(roles):
                abort(403)
            return view(*args, **kwargs)
        return wrapped
    return decorate


def init_app(app):
    secure = app.config["BASE_URL"].startswith("https://")
    app.config.update(
        SESSION_COOKIE_NAME="qianyue_session", SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure, PERMANENT_SESSION_LIFETIME=12 * 3600, WTF_CSRF_TIME_LIMIT=None,
    )
    csrf.init_app(app)
    app.before_request(load_session_user)
    app.after_request(secure_headers)
