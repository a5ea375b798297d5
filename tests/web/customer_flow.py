"""Helpers for the customer tests: a real HTTP server, the embedded provider's pages driven with requests."""
import re
import threading
from html import unescape
from urllib.parse import urljoin

import requests
from sqlmodel import select
from werkzeug.serving import make_server

from tests.conftest import free_port, load_fixture
from webapp import create_app
from webapp.oidc import CUSTOMER_KEY
from workflows.actors import CustomerActor
from workflows.demo import DEMO_PASSWORD
from workflows.models import OutboxMail

CSRF = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')
LINK = re.compile(r"(http://\S+/invitations/\S+)")


class LiveApp:
    """The app served by werkzeug in a thread, at the BASE_URL it was configured with (OIDC needs it fixed)."""

    def __init__(self, database_url, instance, **config):
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "test-secret", "APP_ENV": "development",
                               "INSTANCE_PATH": str(instance), "BASE_URL": self.base, **config})
        self.platform = self.app.extensions["qianyue"]
        self.server = make_server("127.0.0.1", port, self.app, threaded=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.platform.db.dispose()


def csrf(html):
    match = CSRF.search(html)
    assert match, "no CSRF token on the page"
    return match.group(1)


def form_action(html, base_url):
    match = re.search(r'<form method="post" action="([^"]+)"', html)
    return urljoin(base_url, unescape(match.group(1)))


def contract_at_customer(api, fixture="contract-technical-service.json", finance=True):
    contract = api.call("POST", "/contracts", "sales", load_fixture(fixture)).json
    assert api.call("POST", f"/contracts/{contract['id']}/submit", "sales").status_code == 200
    api.decide("legal", contract["id"], "approve")
    if finance and api.tasks("finance", contract["id"]):
        api.decide("finance", contract["id"], "approve")
    return contract


def invitation_links(platform, contract_id):
    with platform.db.read() as session:
        mails = session.exec(select(OutboxMail).where(OutboxMail.contract_id == contract_id,
                                                      OutboxMail.kind.in_(("customer_invitation", "customer_reminder")))
                             .order_by(OutboxMail.id)).all()
    return [(m.to_addr, m.kind, LINK.search(m.body).group(1) if LINK.search(m.body) else None, m.body) for m in mails]


def provider_login(http, base, username, password=DEMO_PASSWORD, start=None, allow=True):
    """From the RP's login to the provider's login and consent pages and back; returns the last response."""
    page = http.get(start or f"{base}/auth/oidc/login?provider=embedded")
    if "/idp/login" in page.url:
        assert page.status_code == 200, page.text
        page = http.post(f"{base}/idp/login", data={"username": username, "password": password,
                                                    "next": re.search(r'name="next" value="([^"]*)"', page.text).group(1) and
                                                    unescape(re.search(r'name="next" value="([^"]*)"', page.text).group(1)),
                                                    "csrf_token": csrf(page.text)})
    assert "/idp/authorize" in page.url and page.status_code == 200, (page.url, page.status_code, page.text[:500])
    return http.post(form_action(page.text, page.url), data={"csrf_token": csrf(page.text),
                                                            "decision": "allow" if allow else "deny"})


SECURITY_VALUES = {"security_officer_name": "徐永立", "security_officer_title": "校长",
                   "security_officer_contact": "0373-8887111"}


def signing_form(html):
    return {"csrf_token": csrf(html),
            "document_sha256": re.search(r'name="document_sha256" value="([0-9a-f]{64})"', html).group(1)}


def fill_letters(live, http, contract_id, html, values=SECURITY_VALUES):
    """Fill each letter form on the signing page, let the worker prepare the document, and return the page."""
    for code in re.findall(rf'action="/sign/{contract_id}/letters/(\w+)"', html):
        filled = http.post(f"{live.base}/sign/{contract_id}/letters/{code}",
                           data={"csrf_token": csrf(html), **{f"value.{k}": v for k, v in values.items()}})
        assert filled.status_code == 200, filled.text[:300]
    live.platform.jobs.run_pending("tests")
    page = http.get(f"{live.base}/sign/{contract_id}")
    assert 'id="sign-form"' in page.text, page.text[:500]
    return page.text


def intent_code(live, http, contract_id, html):
    """Press "send me a code" on the signing page and read the code back from the outbox (development)."""
    sent = http.post(f"{live.base}/sign/{contract_id}/intent", data={"csrf_token": csrf(html)})
    assert sent.status_code == 200, sent.text[:300]
    with live.platform.db.read() as session:
        return live.platform.signing.last_code(session, contract_id)


def new_http():
    return requests.Session()


def invited_person(platform, client):
    """The school's contact signed in (as the sign-in callback leaves the session): their identity."""
    with platform.db.write() as session:
        identity, token = platform.customers.sign_in(session, {
            "issuer": "https://idp.example", "subject": "xu", "name": "徐永立", "email": "xu.yongli@school.example",
            "email_verified": True}, "embedded")
    with client.session_transaction() as session:
        session[CUSTOMER_KEY] = token
    return CustomerActor.of(identity)
