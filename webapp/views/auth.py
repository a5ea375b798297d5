"""Staff sign-in and sign-out."""
from urllib.parse import urlsplit

from flask import Blueprint, flash, g, make_response, redirect, render_template, request, session, url_for
from flask_babel import gettext as _

from workflows.services.sessions import BadCredentials, TooManyAttempts

from ..errors import status_of, with_retry_after
from ..security import SESSION_KEY, client_ip, platform, start_session

bp = Blueprint("auth", __name__)


def safe_next(target):
    """Only local paths: an open redirect after sign-in would make a fine phishing tool."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not (target or "").startswith("/") or target.startswith("//"):
        return url_for("inbox.home")
    return target


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        if g.user:
            return redirect(url_for("inbox.home"))
        return render_template("auth/login.html", next=request.args.get("next", ""))
    try:
        signed_in = platform().sessions.sign_in(platform().db, request.form.get("username"), request.form.get("password"),
                                                client_ip(), request.user_agent.string)
    except TooManyAttempts as exc:
        flash(_("Too many failed sign-ins. Wait 15 minutes and try again."), "error")
        page = render_template("auth/login.html", next=request.form.get("next", ""))
        return with_retry_after(make_response(page, status_of(exc)), exc)
    except BadCredentials:
        flash(_("The username or password is not right."), "error")
        return render_template("auth/login.html", next=request.form.get("next", ""),
                               username=request.form.get("username", "")), 401
    start_session(signed_in.token)
    return redirect(safe_next(request.form.get("next")))


@bp.post("/logout")
def logout():
    with platform().db.write() as db_session:
        platform().sessions.sign_out(db_session, session.get(SESSION_KEY))
    session.clear()
    flash(_("You have signed out."), "success")
    return redirect(url_for("auth.login"))
