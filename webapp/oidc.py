"""Customers sign in here: an OpenID Connect relying party (authlib's Flask client), plus small adapters for
WeCom (企业微信) and DingTalk (钉钉), which speak OAuth 2.0 but not OpenID Connect.

OIDC: authorization code with PKCE (S256); ``state`` (``<provider>.<random>``, so the callback knows the provider)
and ``nonce`` checked by authlib against what it kept in the session; the ID token's signature verified with the
provider's JWKS (discovery through ``<issuer>/.well-known/openid-configuration``), and ``iss``, ``aud``, ``sub``,
``exp`` checked. Email and name come from the ID token or, when missing there, from userinfo (same ``sub``).

Providers (README, Configuration): ``OIDC_ISSUER``/``OIDC_CLIENT_ID``/``OIDC_CLIENT_SECRET``/``OIDC_SCOPES`` define
the provider ``default``; ``OIDC_PROVIDERS`` a JSON list of more; in development (or with ``EMBEDDED_IDP=1``) the
embedded provider is ``embedded``, the default when ``OIDC_ISSUER`` is unset.

A customer session is separate from staff sessions: the Flask session holds ``customer`` (a token whose SHA-256
is in ``customer_session``); signing in rotates the whole session (nothing of the anonymous one survives).
"""
import logging
import secrets
import time
from urllib.parse import urlencode, urlsplit

import requests
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Blueprint, abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from joserfc.errors import JoseError

from workflows.errors import DomainError

from . import idp
from .security import client_ip, platform, start_session

log = logging.getLogger(__name__)
bp = Blueprint("oidc", __name__, url_prefix="/auth/oidc")
CUSTOMER_KEY = "customer"
AFTER_LOGIN = "customer_next"
PURPOSE = "oidc_for"  # "staff" or "customer": which sign-in the callback completes
PENDING = "oauth_pending"  # state -> provider, for the plain OAuth adapters (authlib keeps its own for OIDC)
PENDING_TTL = 600
HTTP_TIMEOUT = 10


class ProviderError(Exception):
    """The provider's answer could not be trusted or used; the customer sees a sign-in error page."""


# --- providers ----------------------------------------------------------------------------------------------------
def provider_configs(app):
    """Every configured provider by name, in order; the first is the default."""
    config = app.config
    providers = {}
    if config.get("OIDC_ISSUER"):
        providers["default"] = {"kind": "oidc", "title": "", "issuer": config["OIDC_ISSUER"].rstrip("/"),
                                "client_id": config["OIDC_CLIENT_ID"], "client_secret": config["OIDC_CLIENT_SECRET"],
                                "scopes": config["OIDC_SCOPES"]}
    if config.get("EMBEDDED_IDP"):
        providers["embedded"] = {"kind": "oidc", "title": _l("Qianyue test identity provider"), "issuer": idp.issuer(app),
                                 "client_id": idp.CLIENT_ID, "client_secret": idp.client_secret(app),
                                 "scopes": "openid email profile", "embedded": True}
    for item in config.get("OIDC_PROVIDERS") or []:  # a list: workflows.settings parsed the JSON
        name = item.get("name", "")
        if not name or not name.replace("_", "").replace("-", "").isalnum() or "." in name:
            raise RuntimeError(f"OIDC_PROVIDERS: every provider needs a name of letters, digits, - and _ ({item!r})")
        kind = item.get("kind", "oidc")
        if kind not in ADAPTERS and kind != "oidc":
            raise RuntimeError(f"OIDC_PROVIDERS: unknown kind {kind!r} for {name}")
        settings = {"scopes": config["OIDC_SCOPES"], "title": "", **item, "kind": kind}
        if kind == "oidc":
            settings["issuer"] = settings["issuer"].rstrip("/")
        providers[name] = settings
    return providers


def init_app(app):
    providers = provider_configs(app)
    oauth = OAuth(app)
    for name, settings in providers.items():
        if settings["kind"] == "oidc":
            oauth.register(name, client_id=settings["client_id"], client_secret=settings["client_secret"],
                           server_metadata_url=settings.get("metadata_url") or settings["issuer"] + "/.well-known/openid-configuration",
                           client_kwargs={"scope": settings["scopes"], "code_challenge_method": "S256",
                                          "timeout": HTTP_TIMEOUT})
    app.extensions["qianyue_oidc"] = {"oauth": oauth, "providers": providers}
    app.before_request(load_customer)
    app.register_blueprint(bp)


def providers():
    return current_app.extensions["qianyue_oidc"]["providers"]


def default_provider():
    names = list(providers())
    return names[0] if names else None


# --- the customer session ------------------------------------------------------------------------------------------
def load_customer():
    """Before each request but a static file's (public): the customer of the session, if any."""
    g.customer = None
    token = session.get(CUSTOMER_KEY)
    if token and request.endpoint != "static":
        with platform().db.read() as db_session:
            g.customer = platform().customers.identity_for(db_session, token)
        if g.customer is None:
            session.pop(CUSTOMER_KEY, None)


def start_customer_session(token):
    """Rotate: the anonymous session (and any staff session in this browser) ends; language and target survive."""
    keep = {k: session.get(k) for k in ("lang", AFTER_LOGIN) if session.get(k)}
    session.clear()
    session.update(keep)
    session[CUSTOMER_KEY] = token
    session.permanent = True


def safe_target(target):
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or not (target or "").startswith("/") or target.startswith("//"):
        return None
    return target


# --- endpoints -----------------------------------------------------------------------------------------------------
@bp.get("/login")
def login():
    name = request.args.get("provider") or default_provider()
    settings = providers().get(name or "")
    if settings is None:
        abort(404)
    target = safe_target(request.args.get("next"))
    if target:
        session[AFTER_LOGIN] = target
    staff = request.args.get("for") == "staff"
    if staff and name != current_app.config.get("STAFF_OIDC_PROVIDER"):
        abort(404)
    session[PURPOSE] = "staff" if staff else "customer"
    state = f"{name}.{secrets.token_urlsafe(24)}"
    redirect_uri = current_app.config["BASE_URL"] + url_for("oidc.callback")
    try:
        if settings["kind"] == "oidc":
            client = current_app.extensions["qianyue_oidc"]["oauth"].create_client(name)
            return client.authorize_redirect(redirect_uri, state=state)
        pending = {k: v for k, v in session.get(PENDING, {}).items() if v[1] > time.time() - PENDING_TTL}
        pending[state] = [name, time.time()]
        session[PENDING] = pending
        return redirect(ADAPTERS[settings["kind"]](settings).authorize_url(redirect_uri, state))
    except (OAuthError, requests.RequestException, ValueError, KeyError) as exc:
        log.warning("sign-in with %s could not start: %s", name, exc)
        return _failed(_("The identity provider cannot be reached. Try again later."), 502)


@bp.get("/callback")
def callback():
    state = request.args.get("state") or ""
    name = state.split(".", 1)[0]
    settings = providers().get(name)
    if settings is None or "." not in state:
        return _failed(_("This sign-in link is not valid. Start again."), 400)
    if request.args.get("error"):
        return _failed(_("The sign-in was cancelled or refused by the identity provider."), 400)
    try:
        if settings["kind"] == "oidc":
            claims = _oidc_claims(name, settings)
        else:
            pending = session.get(PENDING, {})
            entry = pending.pop(state, None)
            session[PENDING] = pending
            if entry is None or entry[0] != name or entry[1] < time.time() - PENDING_TTL:
                raise ProviderError("unknown or expired state")
            code = request.args.get("authCode") or request.args.get("code")
            claims = ADAPTERS[settings["kind"]](settings).identity(code)
    except (OAuthError, JoseError, ProviderError, requests.RequestException, ValueError, KeyError, TypeError) as exc:
        log.warning("sign-in with %s refused: %s: %s", name, type(exc).__name__, exc)
        return _failed(_("The sign-in could not be verified. Start again."), 400)
    if session.pop(PURPOSE, "customer") == "staff" and name == current_app.config.get("STAFF_OIDC_PROVIDER"):
        return _staff_sign_in(claims)
    try:
        with platform().db.write() as db_session:
            identity, token = platform().customers.sign_in(db_session, claims, name, client_ip(), request.user_agent.string)
    except DomainError as exc:
        log.warning("sign-in with %s refused: %s", name, exc.message)
        return _failed(_("The sign-in could not be verified. Start again."), 400)
    start_customer_session(token)
    return redirect(safe_target(session.pop(AFTER_LOGIN, None)) or url_for("customer.portal"))


@bp.post("/logout")
def logout():
    with platform().db.write() as db_session:
        platform().customers.sign_out(db_session, session.get(CUSTOMER_KEY))
    language = session.get("lang")
    session.clear()
    if language:
        session["lang"] = language
    flash(_("You have signed out."), "success")
    return redirect(url_for("customer.portal"))


def _staff_sign_in(claims):
    """Staff single sign-on: the same verified claims, mapped to a local staff account (see SessionService)."""
    target = safe_target(session.pop(AFTER_LOGIN, None))
    try:
        with platform().db.write() as db_session:
            signed_in = platform().sessions.sign_in_federated(db_session, claims, current_app.config.get("STAFF_ROLE_CLAIM"),
                                                              client_ip(), request.user_agent.string)
    except DomainError as exc:
        log.warning("staff sign-in refused: %s", exc.message)
        return _failed(_("This identity has no staff account here. Ask an administrator."), 403)
    start_session(signed_in.token)
    return redirect(target or url_for("inbox.index"))


def _failed(message, status):
    return render_template("customer/login_failed.html", message=message), status


def _oidc_claims(name, settings):
    client = current_app.extensions["qianyue_oidc"]["oauth"].create_client(name)
    issuer = settings["issuer"]
    metadata = client.load_server_metadata()
    if metadata.get("issuer", "").rstrip("/") != issuer:
        raise ProviderError(f"discovery names issuer {metadata.get('issuer')!r}, expected {issuer!r}")
    # claims_options replaces authlib's defaults: iss, aud and sub together (exp, iat and nonce are always checked)
    token = client.authorize_access_token(claims_options={
        "iss": {"essential": True, "values": [issuer, issuer + "/"]},
        "aud": {"essential": True, "value": settings["client_id"]},
        "sub": {"essential": True}})
    claims = token.get("userinfo")
    if not claims:
        raise ProviderError("no ID token (is 'openid' in the scopes?)")
    if not claims.get("exp") or claims["exp"] < time.time():
        raise ProviderError("the ID token has expired")
    info = dict(claims)
    if not info.get("email") or not info.get("name"):
        extra = client.userinfo(token=token)
        if extra.get("sub") != claims["sub"]:
            raise ProviderError("userinfo is about another subject")
        info = {**extra, **{k: v for k, v in claims.items() if v not in (None, "")}}
    return {"issuer": issuer, "subject": claims["sub"], "name": info.get("name") or info.get("preferred_username") or "",
            "email": info.get("email") or "", "email_verified": info.get("email_verified") is True, "claims": info}


# --- WeCom and DingTalk: OAuth 2.0 with their own parameters, mapped to issuer + subject + name + email ----------------
def _json(response):
    response.raise_for_status()
    data = response.json()
    if not isinstance(data, dict):
        raise ProviderError("the provider did not answer a JSON object")
    return data


class WeComAdapter:
    """企业微信 web login: ``/wwlogin/sso/login`` → ``code``; ``gettoken``; ``auth/getuserinfo`` (userid, user_ticket);
    ``auth/getuserdetail`` (email) and ``user/get`` (name). Settings: corp_id, agent_id, secret, and optionally
    authorize_url, api_base (a stand-in in tests) and trust_email (the corp directory vouches for emails)."""

    def __init__(self, settings):
        self.s = settings
        self.api = settings.get("api_base", "https://qyapi.weixin.qq.com").rstrip("/")

    def authorize_url(self, redirect_uri, state):
        base = self.s.get("authorize_url", "https://login.work.weixin.qq.com/wwlogin/sso/login")
        return base + "?" + urlencode({"login_type": "CorpApp", "appid": self.s["corp_id"], "agentid": self.s["agent_id"],
                                       "redirect_uri": redirect_uri, "state": state})

    def _checked(self, data):
        if data.get("errcode", 0) != 0:
            raise ProviderError(f"WeCom error {data.get('errcode')}: {data.get('errmsg')}")
        return data

    def identity(self, code):
        if not code:
            raise ProviderError("no code")
        token = self._checked(_json(requests.get(f"{self.api}/cgi-bin/gettoken", params={
            "corpid": self.s["corp_id"], "corpsecret": self.s["secret"]}, timeout=HTTP_TIMEOUT)))["access_token"]
        who = self._checked(_json(requests.get(f"{self.api}/cgi-bin/auth/getuserinfo", params={
            "access_token": token, "code": code}, timeout=HTTP_TIMEOUT)))
        userid = who.get("userid") or who.get("UserId")
        if not userid:
            raise ProviderError("WeCom: not a member of the corp (no userid)")
        email = ""
        if who.get("user_ticket"):
            detail = self._checked(_json(requests.post(f"{self.api}/cgi-bin/auth/getuserdetail", params={"access_token": token},
                                                       json={"user_ticket": who["user_ticket"]}, timeout=HTTP_TIMEOUT)))
            email = detail.get("biz_mail") or detail.get("email") or ""
        member = self._checked(_json(requests.get(f"{self.api}/cgi-bin/user/get", params={
            "access_token": token, "userid": userid}, timeout=HTTP_TIMEOUT)))
        return {"issuer": f"wecom:{self.s['corp_id']}", "subject": userid, "name": member.get("name") or userid,
                "email": email, "email_verified": bool(self.s.get("trust_email")) and bool(email)}


class DingTalkAdapter:
    """钉钉 login: ``login.dingtalk.com/oauth2/auth`` → ``authCode``; ``POST /v1.0/oauth2/userAccessToken``;
    ``GET /v1.0/contact/users/me`` (unionId, nick, email). Settings: app_key, app_secret, and optionally
    authorize_url, api_base, trust_email."""

    def __init__(self, settings):
        self.s = settings
        self.api = settings.get("api_base", "https://api.dingtalk.com").rstrip("/")

    def authorize_url(self, redirect_uri, state):
        base = self.s.get("authorize_url", "https://login.dingtalk.com/oauth2/auth")
        return base + "?" + urlencode({"redirect_uri": redirect_uri, "response_type": "code", "client_id": self.s["app_key"],
                                       "scope": "openid", "state": state, "prompt": "consent"})

    def identity(self, code):
        if not code:
            raise ProviderError("no authCode")
        token = _json(requests.post(f"{self.api}/v1.0/oauth2/userAccessToken", json={
            "clientId": self.s["app_key"], "clientSecret": self.s["app_secret"], "code": code,
            "grantType": "authorization_code"}, timeout=HTTP_TIMEOUT)).get("accessToken")
        if not token:
            raise ProviderError("DingTalk: no accessToken")
        me = _json(requests.get(f"{self.api}/v1.0/contact/users/me", headers={"x-acs-dingtalk-access-token": token},
                                timeout=HTTP_TIMEOUT))
        subject = me.get("unionId") or me.get("openId")
        if not subject:
            raise ProviderError("DingTalk: no unionId")
        email = me.get("email") or ""
        return {"issuer": f"dingtalk:{self.s['app_key']}", "subject": subject, "name": me.get("nick") or "",
                "email": email, "email_verified": bool(self.s.get("trust_email")) and bool(email)}


ADAPTERS = {"wecom": WeComAdapter, "dingtalk": DingTalkAdapter}
