"""Who is asking: staff browser sessions, decorators for pages, CSRF for forms."""
from functools import wraps

from flask import abort, current_app, g, redirect, request, session, url_for
from flask_wtf.csrf import CSRFProtect

csrf = CSRFProtect()
SESSION_KEY = "sid"


def platform():
    return current_app.extensions["qianyue"]


def client_ip():
    """The peer address; a deployment behind a proxy wraps the app in werkzeug's ProxyFix."""
    return request.remote_addr or ""


def load_session_user():
    """Before each request: the staff user of the session cookie, if any (g.user stays None otherwise)."""
    g.user = None
    token = session.get(SESSION_KEY)
    if token:
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
