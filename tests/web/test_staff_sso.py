"""Staff sign in through the organisation's OpenID provider (the real redirect flow, against the embedded one)."""
import pytest
import requests

from tests.web.customer_flow import LiveApp, provider_login
from workflows.services.idp import IdpStore


@pytest.fixture
def sso(database_url, tmp_path):
    server = LiveApp(database_url, tmp_path, STAFF_OIDC_PROVIDER="embedded")
    with server.platform.db.write() as session:
        IdpStore().create_user(session, "li.lv", "long-enough-pass", "法务 李律", "legal@provider.example")
        IdpStore().create_user(session, "stranger", "long-enough-pass", "陌生人", "nobody@elsewhere.example")
    yield server
    server.close()


def test_a_staff_member_signs_in_with_the_organisations_account(sso):
    http = requests.Session()
    login_page = http.get(f"{sso.base}/login").text
    assert "for=staff" in login_page
    landed = provider_login(http, sso.base, "li.lv", "long-enough-pass",
                            start=f"{sso.base}/auth/oidc/login?provider=embedded&for=staff")
    assert landed.url == f"{sso.base}/inbox" and landed.status_code == 200
    assert "李娜" in landed.text  # the local account 'legal', found by its verified email


def test_an_identity_without_a_staff_account_is_refused(sso):
    http = requests.Session()
    refused = provider_login(http, sso.base, "stranger", "long-enough-pass",
                             start=f"{sso.base}/auth/oidc/login?provider=embedded&for=staff")
    assert refused.status_code == 403
    assert http.get(f"{sso.base}/inbox", allow_redirects=False).status_code == 302


def test_staff_sign_in_needs_the_configured_provider(sso):
    assert requests.get(f"{sso.base}/auth/oidc/login?provider=nope&for=staff").status_code == 404


def federated(platform, claims, role_claim=None):
    with platform.db.write() as session:
        return platform.sessions.sign_in_federated(session, claims, role_claim, "127.0.0.1", "test").user


def test_roles_come_from_a_trusted_claim_or_the_local_account(platform):
    from workflows.services.sessions import BadCredentials
    claims = lambda email, roles=None: {"email": email, "email_verified": True, "name": "新同事",  # noqa: E731
                                        "claims": {"roles": roles} if roles is not None else {}}
    assert federated(platform, claims("legal@provider.example")).username == "legal"  # local mapping by email
    created = federated(platform, claims("new@provider.example", ["finance", "customer", "wizard"]), "roles")
    assert created.role_set == {"finance"}  # only staff roles the product knows; never customer
    assert federated(platform, claims("legal@provider.example", "legal finance"), "roles").role_set == {"legal", "finance"}
    with pytest.raises(BadCredentials):
        federated(platform, claims("someone@provider.example"))  # no account, no role claim
    with pytest.raises(BadCredentials):
        federated(platform, {**claims("legal@provider.example"), "email_verified": False})
