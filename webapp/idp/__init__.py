"""The embedded OpenID Connect provider under ``/idp`` (development and tests; off in production unless EMBEDDED_IDP=1).

A real provider built on authlib's server side: discovery, JWKS (an RS256 key generated on first run and kept in
the instance folder), authorize with its own login and consent pages, token (code grant with PKCE S256, client
secret), userinfo. It has its own user store (``idp_user``) and its own login cookie (``qianyue_idp``, path
``/idp``), so signing in here never signs anyone in to the staff pages or the customer portal: the relying party
(``webapp/oidc.py``) does that after it has verified the ID token like it would any provider's.
"""
import hmac
import json
import time
from hashlib import sha256
from pathlib import Path
from urllib.parse import urlsplit

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc6749 import grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import (Blueprint, Response, current_app, flash, g, jsonify, make_response, redirect, render_template, request,
                   url_for)
from flask_babel import gettext as _
from itsdangerous import BadSignature, URLSafeTimedSerializer
from joserfc.jwk import RSAKey

from workflows.instance import create_once
from workflows.services.idp import IdpStore
from workflows.services.sessions import BadCredentials, TooManyAttempts

from ..errors import status_of, with_retry_after
from ..security import client_ip, csrf, platform

bp = Blueprint("idp", __name__, url_prefix="/idp")
COOKIE = "qianyue_idp"
LOGIN_TTL = 8 * 3600
CLIENT_ID = "qianyue"
SCOPES = ("openid", "email", "profile")
store = IdpStore()


# --- configuration ----------------------------------------------------------------------------------------------
def issuer(app=None):
    return (app or current_app).config["BASE_URL"] + "/idp"


def client_secret(app=None):
    """The relying party's secret at the embedded provider, derived from SECRET_KEY (nothing to configure)."""
    key = (app or current_app).config["SECRET_KEY"].encode()
    return hmac.new(key, b"qianyue embedded idp client", sha256).hexdigest()


def signing_key(app=None):
    """The RS256 key, generated once into INSTANCE_PATH/idp/signing_key.pem. Every process of the machine signs with
    the one in the file: of processes generating it at once (a cluster's first sign-in), the first to link it in wins
    and the others read that one (a key kept from a lost race would sign ID tokens the JWKS does not list)."""
    app = app or current_app
    cached = app.extensions.get("qianyue_idp_key")
    if cached is not None:
        return cached
    path = Path(app.config["INSTANCE_PATH"]) / "idp" / "signing_key.pem"
    if not path.exists():
        pem = rsa.generate_private_key(public_exponent=65537, key_size=2048).private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
        create_once(path, pem.decode())
    key = RSAKey.import_key(path.read_bytes())
    key.ensure_kid()
    app.extensions["qianyue_idp_key"] = key
    return key


class Client:
    """The one client of the embedded provider: this application's relying party."""

    client_id = CLIENT_ID
    token_endpoint_auth_method = "client_secret_basic"
    id_token_signed_response_alg = "RS256"

    def __init__(self, app):
        self.secret = client_secret(app)
        self.redirect_uri = app.config["BASE_URL"] + "/auth/oidc/callback"

    def get_client_id(self):
        return self.client_id

    def get_default_redirect_uri(self):
        return self.redirect_uri

    def get_allowed_scope(self, scope):
        return " ".join(s for s in (scope or "").split() if s in SCOPES)

    def check_redirect_uri(self, redirect_uri):
        return redirect_uri == self.redirect_uri

    def check_client_secret(self, secret):
        return isinstance(secret, str) and hmac.compare_digest(secret, self.secret)

    def check_endpoint_auth_method(self, method, endpoint):
        return endpoint != "token" or method in ("client_secret_basic", "client_secret_post")

    def check_response_type(self, response_type):
        return response_type == "code"

    def check_grant_type(self, grant_type):
        return grant_type == "authorization_code"


class Code:
    """An authorization code row as authlib's grant wants it."""

    def __init__(self, row):
        self.row = row
        self.code_challenge, self.code_challenge_method = row.code_challenge, row.code_challenge_method

    def get_redirect_uri(self):
        return self.row.redirect_uri

    def get_scope(self):
        return self.row.scope

    def get_nonce(self):
        return self.row.nonce

    def get_auth_time(self):
        return self.row.auth_time

    def get_acr(self):
        return None

    def get_amr(self):
        return ["pwd"]


def user_info(user, scope):
    info = UserInfo(sub=f"u{user.id}")
    scopes = (scope or "").split()
    if "profile" in scopes:
        info["name"], info["preferred_username"] = user.name, user.username
    if "email" in scopes:
        info["email"], info["email_verified"] = user.email, bool(user.email_verified)
    return info


class CodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def save_authorization_code(self, code, req):
        data = req.payload.data
        store.save_code(g.idp_db, code, req.client.get_client_id(), req.payload.redirect_uri, req.scope, req.user.id,
                        data.get("nonce"), data.get("code_challenge"), data.get("code_challenge_method"), g.idp_auth_time)

    def query_authorization_code(self, code, client):
        row = store.find_code(g.idp_db, code, client.get_client_id())  # checks owner client, expiry, single use
        return Code(row) if row is not None else None

    def delete_authorization_code(self, authorization_code):
        if not store.use_code(g.idp_db, authorization_code.row):
            raise OAuth2Error("invalid_grant")

    def authenticate_user(self, authorization_code):
        return store.get_user(g.idp_db, authorization_code.row.user_id)


class IdpOpenIDCode(OpenIDCode):
    def resolve_client_private_key(self, client):
        return signing_key()

    def get_client_claims(self, client):
        return {"iss": issuer(), "aud": [client.get_client_id()]}

    def get_encode_header(self, client):
        return {"alg": "RS256", "kid": signing_key().kid}

    def exists_nonce(self, nonce, req):
        return False  # codes are single use; a replayed nonce cannot mint a second ID token

    def generate_user_info(self, user, scope):
        return user_info(user, scope)


def authorization_server(app):
    server = app.extensions.get("qianyue_idp_server")
    if server is None:
        client = Client(app)
        server = AuthorizationServer()
        server.init_app(app, query_client=lambda client_id: client if client_id == CLIENT_ID else None,
                        save_token=lambda token, req: store.save_token(g.idp_db, token["access_token"], req.client.get_client_id(),
                                                                       req.user.id, token.get("scope"), token.get("expires_in")))
        server.register_grant(CodeGrant, [CodeChallenge(required=True), IdpOpenIDCode(require_nonce=True)])
        app.extensions["qianyue_idp_server"] = server
    return server


# --- the provider's own login state ---------------------------------------------------------------------------
def _serializer():
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt="qianyue-idp-login")


def current_idp_user():
    raw = request.cookies.get(COOKIE)
    if not raw:
        return None, None
    try:
        data = _serializer().loads(raw, max_age=LOGIN_TTL)
    except BadSignature:
        return None, None
    with platform().db.read() as session:
        user = store.get_user(session, data.get("u"))
    return user, data.get("t")


def _set_login(response, user):
    secure = current_app.config["BASE_URL"].startswith("https://")
    response.set_cookie(COOKIE, _serializer().dumps({"u": user.id, "t": int(time.time())}), max_age=LOGIN_TTL,
                        path="/idp", httponly=True, samesite="Lax", secure=secure)
    return response


def _authorize_target(target):
    """Only back to our own authorize endpoint after login (no open redirect)."""
    parts = urlsplit(target or "")
    if parts.scheme or parts.netloc or parts.path != url_for("idp.authorize"):
        return None
    return target


# --- endpoints -----------------------------------------------------------------------------------------------------
@bp.get("/.well-known/openid-configuration")
def discovery():
    base = issuer()
    return jsonify({
        "issuer": base, "authorization_endpoint": base + "/authorize", "token_endpoint": base + "/token",
        "userinfo_endpoint": base + "/userinfo", "jwks_uri": base + "/jwks.json",
        "response_types_supported": ["code"], "grant_types_supported": ["authorization_code"],
        "subject_types_supported": ["public"], "id_token_signing_alg_values_supported": ["RS256"],
        "scopes_supported": list(SCOPES), "token_endpoint_auth_methods_supported": CodeGrant.TOKEN_ENDPOINT_AUTH_METHODS,
        "code_challenge_methods_supported": ["S256"], "claims_supported": ["sub", "iss", "aud", "exp", "iat", "auth_time",
                                                                         "nonce", "name", "preferred_username", "email",
                                                                         "email_verified"],
    })


@bp.get("/jwks.json")
def jwks():
    return jsonify({"keys": [signing_key().as_dict(private=False, use="sig", alg="RS256")]})


@bp.route("/authorize", methods=["GET", "POST"])
def authorize():
    server = authorization_server(current_app)
    user, auth_time = current_idp_user()
    if user is None:
        return redirect(url_for("idp.login", next=request.full_path))
    try:
        grant = server.get_consent_grant(end_user=user)
    except OAuth2Error as error:  # unknown client or redirect URI: never redirect, say so here
        return render_template("idp/error.html", error=error.error, description=error.description), 400
    payload = grant.request.payload
    if payload.data.get("code_challenge_method") != "S256":
        return render_template("idp/error.html", error="invalid_request",
                               description="PKCE with code_challenge_method=S256 is required"), 400
    if request.method == "GET":
        return render_template("idp/consent.html", user=user, client=grant.client, scopes=(grant.request.scope or "").split())
    g.idp_auth_time = auth_time
    with platform().db.write() as session:
        g.idp_db = session
        return server.create_authorization_response(grant_user=user if request.form.get("decision") == "allow" else None,
                                                    grant=grant)


@bp.route("/login", methods=["GET", "POST"])
def login():
    target = _authorize_target(request.values.get("next"))
    if request.method == "GET":
        return render_template("idp/login.html", next=target or "")
    username, password = request.form.get("username", ""), request.form.get("password")

    def verify():
        return store.sign_in(platform().db, username, password)

    try:  # the staff sign-in's throttle: one limit per account and per address for every password form
        user = platform().sessions.throttle.authenticate(platform().db, "idp", username, client_ip(), verify)
    except TooManyAttempts as exc:
        flash(_("Too many failed sign-ins. Wait 15 minutes and try again."), "error")
        return with_retry_after(make_response(render_template("idp/login.html", next=target or ""), status_of(exc)), exc)
    except BadCredentials:
        flash(_("The username or password is not right."), "error")
        return render_template("idp/login.html", next=target or "", username=username), 401
    response = redirect(target or url_for("idp.signed_in"))
    return _set_login(response, user)


@bp.get("/")
def signed_in():
    user, _t = current_idp_user()
    return render_template("idp/signed_in.html", user=user)


@bp.post("/logout")
def logout():
    response = redirect(url_for("idp.signed_in"))
    response.delete_cookie(COOKIE, path="/idp")
    return response


@bp.post("/token")
@csrf.exempt
def token():
    server = authorization_server(current_app)
    with platform().db.write() as session:
        g.idp_db = session
        return server.create_token_response()


@bp.route("/userinfo", methods=["GET", "POST"])
@csrf.exempt
def userinfo():
    header = request.headers.get("Authorization", "")
    access_token = header[7:].strip() if header.lower().startswith("bearer ") else None
    with platform().db.read() as session:
        user, row = store.user_for_token(session, access_token)
    if user is None:
        return Response(json.dumps({"error": "invalid_token"}), status=401, mimetype="application/json",
                        headers={"WWW-Authenticate": 'Bearer error="invalid_token"'})
    return jsonify(dict(user_info(user, row.scope)))


@bp.after_request
def no_store(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers.setdefault("Referrer-Policy", "no-referrer")
    return response


def enabled(app):
    return bool(app.config.get("EMBEDDED_IDP"))


def init_app(app):
    """Register the provider when enabled (development by default; production only with EMBEDDED_IDP=1)."""
    if enabled(app):
        app.register_blueprint(bp)
