"""Customers: the real OIDC redirect flow against the embedded provider, invitations, binding, signing, portal."""
import base64
import hashlib
import secrets
import time
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from joserfc.jwk import RSAKey

from tests.conftest import Api
from tests.process.test_incidents import BROKEN_AT_CUSTOMER, DMN
from tests.web.customer_flow import SECURITY_VALUES
from tests.web.customer_flow import (LiveApp, contract_at_customer, csrf, fill_letters, intent_code, invitation_links,
                                     new_http, provider_login, signing_form)
from webapp import create_app, idp
from workflows.clock import utcnow
from workflows.models import CustomerIdentity, Invitation, Signature

pytestmark = pytest.mark.slow


@pytest.fixture
def live(database_url, tmp_path):
    server = LiveApp(database_url, tmp_path)
    yield server
    server.close()


@pytest.fixture
def live_api(live):
    return Api(live.app.test_client(), live.platform)


def accept_invitation(live, live_api, username="xu.yongli", fixture="contract-technical-service.json"):
    contract = contract_at_customer(live_api, fixture)
    ((to, kind, link, _body),) = invitation_links(live.platform, contract["id"])
    http = new_http()
    landing = http.get(link)
    assert landing.status_code == 200 and "/auth/oidc/login" in landing.text
    back = provider_login(http, live.base, username)
    assert back.url == link and back.status_code == 200, (back.url, back.status_code)
    # before accepting, the page says which contract, between whom, and who their account manager is
    assert contract["title"] in back.text and contract["number"] in back.text and "王敏" in back.text
    accepted = http.post(link, data={"csrf_token": csrf(back.text)})
    return contract, http, accepted, to


def test_invitation_login_and_signature(live, live_api):
    contract, http, accepted, to = accept_invitation(live, live_api)
    assert to == "xu.yongli@school.example"
    assert accepted.status_code == 200 and accepted.url == f"{live.base}/sign/{contract['id']}"
    assert contract["number"] in accepted.text and "附件一《网络及信息安全承诺书》" in accepted.text  # as the contract prints it
    assert 'id="sign-form"' not in accepted.text  # the letter's fields first
    page = fill_letters(live, http, contract["id"], accepted.text)
    assert http.get(f"{live.base}/sign/{contract['id']}/document.pdf").content.startswith(b"%PDF")
    assert "staff" not in http.cookies.get_dict()  # one session cookie, the customer's
    # staff pages are not for customers
    assert http.get(f"{live.base}/inbox", allow_redirects=False).status_code in (302, 403)
    assert http.get(f"{live.base}/api/v1/contracts/{contract['id']}").status_code == 401

    missing_consent = http.post(f"{live.base}/sign/{contract['id']}", data={**signing_form(page), "method": "typed",
                                                                            "typed_name": "徐永立"})
    assert missing_consent.status_code == 422 and "error-text" in missing_consent.text
    no_code = http.post(f"{live.base}/sign/{contract['id']}", data={**signing_form(page), "method": "typed",
                                                                    "typed_name": "徐永立", "consent": "1"})
    assert no_code.status_code == 422 and "error-text" in no_code.text
    assert '<div id="code-entry" hidden>' in no_code.text  # no field for a code before one is sent
    code = intent_code(live, http, contract["id"], page)
    sent = http.get(f"{live.base}/sign/{contract['id']}").text  # without JavaScript: the page again, with the field
    assert '<div id="code-entry">' in sent and "确认码已发送至 x***i@school.example" in sent
    assert sent.count('id="intent-button"') == 1 and "重新发送确认码" in sent
    signed = http.post(f"{live.base}/sign/{contract['id']}", data={**signing_form(page), "method": "typed",
                                                                   "typed_name": "徐永立", "consent": "1",
                                                                   "intent_code": code})
    assert signed.status_code == 200 and signed.url == f"{live.base}/portal", signed.text[:300]
    assert contract["number"] in signed.text
    assert live_api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "countersigning"
    with live.platform.db.read() as session:
        rows = session.exec(Signature.__table__.select().order_by(Signature.id)).all()
        identity = session.get(CustomerIdentity, rows[0].identity_id)
    # one act, one row per field: the letter's and the contract's, on the document the signer was shown
    assert [(r.role, r.field) for r in rows] == [("letter", "letter-information_security"), ("customer", "customer")]
    for row in rows:
        assert (row.issuer, row.subject, row.email, row.method) == (f"{live.base}/idp", identity.subject,
                                                                    "xu.yongli@school.example", "typed")
        assert row.document_sha256 == signing_form(page)["document_sha256"] and row.consent_text and row.user_agent
    history = live_api.call("GET", f"/contracts/{contract['id']}/history", "sales").json["items"]
    assert any(e["event"] == "task_completed" and e["decision"] == "sign" and e["actor"] == f"customer:{identity.id}"
               for e in history)
    # signed: the signing form is gone, the portal lists the contract
    assert "sign-form" not in http.get(f"{live.base}/sign/{contract['id']}").text
    # logout ends the session on the server
    portal = http.get(f"{live.base}/portal")
    http.post(f"{live.base}/auth/oidc/logout", data={"csrf_token": csrf(portal.text)})
    assert http.get(f"{live.base}/sign/{contract['id']}").status_code == 401


def test_while_the_document_is_prepared_the_page_reloads_itself_as_the_page_alone(live, live_api):
    """Saving a letter leads to /sign/<id>#letter-...; a bare refresh there only jumps to the anchor in chromium, so
    the customer would wait for a document that is long ready: the refresh names the page without the fragment."""
    contract, http, accepted, _to = accept_invitation(live, live_api)
    saved = http.post(f"{live.base}/sign/{contract['id']}/letters/information_security",
                      data={"csrf_token": csrf(accepted.text), **{f"value.{k}": v for k, v in SECURITY_VALUES.items()}})
    assert saved.status_code == 200 and saved.history[0].headers["Location"].endswith("#letter-information_security")
    assert f'<meta http-equiv="refresh" content="3; url=/sign/{contract["id"]}">' in saved.text


def test_document_hash_mismatch_is_refused(live, live_api):
    contract, http, accepted, _to = accept_invitation(live, live_api)
    page = fill_letters(live, http, contract["id"], accepted.text)
    form = {**signing_form(page), "method": "typed", "typed_name": "徐永立", "consent": "1"}
    stale = http.post(f"{live.base}/sign/{contract['id']}", data={**form, "document_sha256": "0" * 64})
    assert stale.status_code == 409
    # the customer changes a letter's values: the document shown before is not the one to sign any more
    fill_letters(live, http, contract["id"], page, {**SECURITY_VALUES, "security_officer_title": "副校长"})
    assert http.post(f"{live.base}/sign/{contract['id']}", data=form).status_code == 409
    assert live_api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "awaiting_customer"


def test_another_customer_learns_nothing_of_the_contract(live, live_api):
    contract, _http, _accepted, _to = accept_invitation(live, live_api)
    intruder = new_http()
    provider_login(intruder, live.base, "wu.jianrong")
    for path in ("", "/document.pdf", "/preview", "/package.pdf"):
        assert intruder.get(f"{live.base}/sign/{contract['id']}{path}").status_code == 404
    portal = intruder.get(f"{live.base}/portal")
    assert contract["number"] not in portal.text
    for path, data in (("/decline", {"reason": "no"}), ("/intent", {}), ("/letters/information_security", {}),
                       ("", {"document_sha256": "0" * 64, "method": "typed", "typed_name": "x", "consent": "1"})):
        posted = intruder.post(f"{live.base}/sign/{contract['id']}{path}", data={"csrf_token": csrf(portal.text), **data})
        assert posted.status_code == 404, path
    assert live_api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "awaiting_customer"


def test_invitation_needs_the_contacts_verified_email(live, live_api):
    contract = contract_at_customer(live_api)
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract["id"])
    http = new_http()
    http.get(link)
    back = provider_login(http, live.base, "wu.jianrong")
    assert back.status_code == 403 and contract["title"] not in back.text  # told at once, shown nothing of the contract
    refused = http.post(link, data={"csrf_token": csrf(http.get(f"{live.base}/portal").text)})
    assert refused.status_code == 403
    with live.platform.db.read() as session:
        assert session.exec(Invitation.__table__.select()).one().identity_id is None


def test_resend_kills_the_old_link_and_decline(live, live_api):
    contract = contract_at_customer(live_api)
    ((_to, _kind, old_link, _body),) = invitation_links(live.platform, contract["id"])
    with live.platform.db.write() as session:
        live.platform.customers.invite(session, contract["id"], "sales", email="xu.yongli@school.example", reason="resent")
    links = invitation_links(live.platform, contract["id"])
    assert len(links) == 2 and links[1][2] != old_link
    http = new_http()
    http.get(old_link)
    back = provider_login(http, live.base, "xu.yongli")
    assert http.post(old_link, data={"csrf_token": csrf(back.text)}).status_code == 409
    accepted = http.post(links[1][2], data={"csrf_token": csrf(back.text)})
    assert accepted.status_code == 200
    no_reason = http.post(f"{live.base}/sign/{contract['id']}/decline", data={"csrf_token": csrf(accepted.text)})
    assert no_reason.status_code == 422
    declined = http.post(f"{live.base}/sign/{contract['id']}/decline", data={"csrf_token": csrf(accepted.text),
                                                                             "reason": "价格需再议"})
    assert declined.status_code == 200
    assert live_api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "declined"


def test_timers_remind_and_expire_the_invitation(live, live_api):
    contract = contract_at_customer(live_api)
    ((_to, _kind, link, _body),) = invitation_links(live.platform, contract["id"])
    live.platform.timers.run_due(at=utcnow() + timedelta(days=3, hours=1))
    links = invitation_links(live.platform, contract["id"])
    assert [kind for _t, kind, _l, _b in links] == ["customer_invitation", "customer_reminder"]
    live.platform.timers.run_due(at=utcnow() + timedelta(days=15))
    assert live_api.call("GET", f"/contracts/{contract['id']}", "sales").json["status"] == "expired"
    http = new_http()
    http.get(links[-1][2])
    back = provider_login(http, live.base, "xu.yongli")
    assert http.post(links[-1][2], data={"csrf_token": csrf(back.text)}).status_code == 409


# --- the relying party refuses what it must refuse (the provider is made to misbehave; the RP is untouched) -------
def _claims(overrides):
    def get_client_claims(self, client):
        return {"iss": idp.issuer(), "aud": [client.get_client_id()], **overrides}
    return get_client_claims


@pytest.mark.parametrize("case", ["issuer", "audience", "expired", "nonce", "signature"])
def test_bad_id_tokens_are_rejected(live, monkeypatch, case):
    now = int(time.time())
    if case == "issuer":
        monkeypatch.setattr(idp.IdpOpenIDCode, "get_client_claims", _claims({"iss": "http://evil.example/idp"}))
    elif case == "audience":
        monkeypatch.setattr(idp.IdpOpenIDCode, "get_client_claims", _claims({"aud": ["someone-else"]}))
    elif case == "expired":
        monkeypatch.setattr(idp.IdpOpenIDCode, "get_client_claims", _claims({"iat": now - 7200, "exp": now - 3600}))
    elif case == "nonce":
        monkeypatch.setattr(idp.IdpOpenIDCode, "get_authorization_code_claims", lambda self, code: {"nonce": "not-the-one"})
    else:
        forged = RSAKey.generate_key(2048, parameters={"kid": idp.signing_key(live.app).kid})
        monkeypatch.setattr(idp.IdpOpenIDCode, "resolve_client_private_key", lambda self, client: forged)
    http = new_http()
    back = provider_login(http, live.base, "xu.yongli")
    assert back.status_code == 400 and "/auth/oidc/callback" in back.url
    assert http.get(f"{live.base}/portal").text.count("/auth/oidc/login") >= 1  # still signed out
    with live.platform.db.read() as session:  # no identity came from the provider (only the API account's own)
        assert session.exec(CustomerIdentity.__table__.select().where(CustomerIdentity.issuer != "qianyue:api")).first() is None


def test_wrong_or_replayed_state_is_rejected(live):
    http = new_http()
    first = http.get(f"{live.base}/auth/oidc/login?provider=embedded", allow_redirects=False)
    state = parse_qs(urlsplit(first.headers["Location"]).query)["state"][0]
    assert state.startswith("embedded.")
    assert http.get(f"{live.base}/auth/oidc/callback?code=x&state=embedded.forged").status_code == 400
    assert http.get(f"{live.base}/auth/oidc/callback?code=x&state=nobody.forged").status_code == 400
    assert http.get(f"{live.base}/auth/oidc/callback?code=x").status_code == 400
    # a full login, then the same callback URL again (code and state used): refused
    back = provider_login(http, live.base, "xu.yongli")
    assert back.status_code == 200 and back.url == f"{live.base}/portal"
    callback = next(r.headers["Location"] for r in back.history if "/auth/oidc/callback" in r.headers.get("Location", ""))
    assert http.get(callback).status_code == 400 and new_http().get(callback).status_code == 400


def test_code_is_single_use_and_bound_to_the_client(live):
    """The token endpoint itself: PKCE required, codes single use (authlib does not check this; we do)."""
    http = new_http()
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    redirect_uri = f"{live.base}/auth/oidc/callback"
    query = {"response_type": "code", "client_id": "qianyue", "redirect_uri": redirect_uri, "scope": "openid email",
             "state": "s", "nonce": "n", "code_challenge": challenge, "code_challenge_method": "S256"}
    page = http.get(f"{live.base}/idp/login")
    http.post(f"{live.base}/idp/login", data={"username": "xu.yongli", "password": "qianyue-demo", "csrf_token": csrf(page.text)})
    assert http.get(f"{live.base}/idp/authorize", params={k: v for k, v in query.items()
                                                          if not k.startswith("code_")}).status_code == 400
    consent = http.get(f"{live.base}/idp/authorize", params=query)
    answer = http.post(consent.url, data={"csrf_token": csrf(consent.text), "decision": "allow"}, allow_redirects=False)
    code = parse_qs(urlsplit(answer.headers["Location"]).query)["code"][0]
    auth = ("qianyue", idp.client_secret(live.app))
    body = {"grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri, "code_verifier": verifier}
    assert requests_post(f"{live.base}/idp/token", body, ("qianyue", "wrong")).status_code == 401
    assert requests_post(f"{live.base}/idp/token", {**body, "code_verifier": "x" * 50}, auth).status_code == 400
    ok = requests_post(f"{live.base}/idp/token", body, auth)
    assert ok.status_code == 200 and "id_token" in ok.json(), ok.text
    assert requests_post(f"{live.base}/idp/token", body, auth).status_code == 400  # used
    info = new_http().get(f"{live.base}/idp/userinfo", headers={"Authorization": f"Bearer {ok.json()['access_token']}"})
    assert info.json()["email"] == "xu.yongli@school.example" and info.json()["email_verified"] is True
    assert new_http().get(f"{live.base}/idp/userinfo", headers={"Authorization": "Bearer nope"}).status_code == 401


def requests_post(url, data, auth):
    return requests.post(url, data=data, auth=auth, timeout=10)


def test_a_failing_step_on_the_signing_page_becomes_an_incident(live, live_api):
    """The signing page records nothing itself: the runtime marks the instance erroring, as on every other path."""
    with live.platform.db.write() as session:
        live.platform.repository.deploy(session, BROKEN_AT_CUSTOMER, DMN, "admin")
    contract, http, accepted, _to = accept_invitation(live, live_api)
    page = fill_letters(live, http, contract["id"], accepted.text)
    code = intent_code(live, http, contract["id"], page)
    refused = http.post(f"{live.base}/sign/{contract['id']}", data={**signing_form(page), "method": "typed",
                                                                    "typed_name": "徐永立", "consent": "1",
                                                                    "intent_code": code})
    assert refused.status_code == 409 and "signed_word" in refused.text
    with live.platform.db.read() as session:
        instance = live.platform.contracts.instance(session, contract["id"])
        events = [e.event for e in live.platform.history.for_contract(session, contract["id"])]
    assert instance.status == "error" and events[-1] == "process_failed"


def test_processes_racing_to_make_the_providers_key_all_sign_with_the_one_in_the_file(tmp_path, monkeypatch):
    """A cluster's first sign-in: two processes find no key file and both generate one. The second to finish must
    not keep its own (its ID tokens would carry a key the JWKS of the others does not list)."""
    settings = {"DATABASE_URL": f"sqlite:///{tmp_path}/x.db", "SECRET_KEY": "x", "APP_ENV": "development",
                "INSTANCE_PATH": str(tmp_path)}
    first, second = create_app(settings), create_app(settings)
    generate, racing = idp.rsa.generate_private_key, []

    def slow_generation(**kwargs):
        key = generate(**kwargs)
        if not racing:
            racing.append(True)
            idp.signing_key(second)  # the other process generates and stores its key meanwhile
        return key

    monkeypatch.setattr(idp.rsa, "generate_private_key", slow_generation)
    ours, theirs = idp.signing_key(first), idp.signing_key(second)
    stored = RSAKey.import_key((tmp_path / "idp" / "signing_key.pem").read_bytes())
    assert racing and ours.thumbprint() == theirs.thumbprint() == stored.thumbprint()
