"""The world the route × role table runs in: a contract in each state that matters, and a visitor for each role.

Staff sign in through the sign-in page and call the API with their own tokens. Each of the two customers has an
integration account (the API: the demo account acts for its school by credit code, the other for its own organisation)
and a person who signs in at the embedded identity provider (the pages) and accepts the invitation mailed to them.
The app is also served on its BASE_URL, where the sign-in callback fetches the provider's token over HTTP.
"""
import re
from html import unescape
from urllib.parse import urlsplit

from tests.conftest import Api, Browser, IsolatedClient, csrf_token, load_fixture
from tests.letters.helpers import SECURITY_VALUES, complete_letters, customer_signs
from tests.web.customer_flow import invitation_links
from workflows.demo import DEMO_PASSWORD

ROLES = ("anonymous", "sales", "legal", "finance", "provider", "admin", "customer", "other")
STAFF = {"sales": "sales", "legal": "legal", "finance": "finance", "provider": "signatory", "admin": "admin"}
CUSTOMERS = {"customer": ("customer", "xu.yongli"), "other": ("other", "wu.jianrong")}  # API account, person
OTHER_CREDIT_CODE = "91350100M000100Y43"  # the other customer's organisation


def relative(url):
    """A redirect's path and query: every client here talks to the app in process, whatever host it names."""
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


class Visitor:
    """One role: a cookie client for the pages (posting the CSRF token its pages carry) and a token for the API."""

    def __init__(self, client, token=None):
        self.client, self.token, self.csrf = client, token, None

    def keep_csrf(self, page):
        self.csrf = csrf_token(self.client.get(page).get_data(as_text=True))

    def call(self, method, path, body=None):
        if path.startswith("/api/"):
            headers = {"Authorization": f"Bearer {self.token}"} if self.token else {}
            return self.client.open(path, method=method, json=body, headers=headers)
        data = {**(body or {}), "csrf_token": self.csrf} if method == "POST" else body
        return self.client.open(path, method=method, data=data)


def staff_visitor(app, api, username):
    browser = Browser(app)
    assert browser.sign_in(username).status_code == 302
    visitor = Visitor(browser.client, api.token(username))
    visitor.keep_csrf("/inbox")
    return visitor


def customer_sign_in(client, person, record=lambda step, response: response):
    """The person's whole OpenID Connect sign-in at the embedded provider, landing on the portal. ``record`` sees each
    step's response (bench/pages.py times them)."""
    to_provider = record("GET /auth/oidc/login", client.get("/auth/oidc/login?provider=embedded"))
    login_page = client.get(relative(client.get(relative(to_provider.location)).location)).get_data(as_text=True)
    signed_in = record("POST /idp/login", client.post("/idp/login", data={
        "username": person, "password": DEMO_PASSWORD, "csrf_token": csrf_token(login_page),
        "next": unescape(re.search(r'name="next" value="([^"]*)"', login_page).group(1))}))
    consent = record("GET /idp/authorize", client.get(relative(signed_in.location)))
    consent_page = consent.get_data(as_text=True)
    action = unescape(re.search(r'<form method="post" action="([^"]+)"', consent_page).group(1))
    to_callback = record("POST /idp/authorize", client.post(action, data={"csrf_token": csrf_token(consent_page),
                                                                          "decision": "allow"}))
    back = record("GET /auth/oidc/callback", client.get(relative(to_callback.location)))
    assert relative(back.location) == "/portal"


def customer_visitor(app, api, account, person, invitation_path):
    """The person signed in at the embedded provider, then their invitation accepted."""
    client = IsolatedClient(app, app.response_class, use_cookies=True)
    visitor = Visitor(client, api.token(account))
    customer_sign_in(client, person)
    visitor.keep_csrf("/portal")
    assert visitor.call("POST", invitation_path).status_code == 302
    return visitor


def at_customer(api, draft):
    """Through legal and finance to the customer's step."""
    contract_id = api.call("POST", "/contracts", "sales", draft).json["id"]
    assert api.call("POST", f"/contracts/{contract_id}/submit", "sales").status_code == 200
    api.decide("legal", contract_id, "approve")
    if api.tasks("finance", contract_id):
        api.decide("finance", contract_id, "approve")
    return contract_id


def build(app):
    """The visitors by role, and the ids the table's paths name."""
    platform = app.extensions["qianyue"]
    api = Api(app.test_client(), platform)
    draft = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json["id"]
    review = api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json")).json["id"]
    assert api.call("POST", f"/contracts/{review}/submit", "sales").status_code == 200
    contract = at_customer(api, load_fixture("contract-technical-service.json"))
    other_draft = load_fixture("contract-network-line.json")
    other_draft["customer"]["credit_code"] = OTHER_CREDIT_CODE
    other = at_customer(api, other_draft)
    with platform.db.write() as session:
        platform.accounts.create_user(session, "other", ["customer"], "other-password", "吴建荣",
                                      customer_org=OTHER_CREDIT_CODE)
    filled = api.call("PUT", f"/contracts/{contract}/letters/information_security", "customer",
                      {"values": SECURITY_VALUES})
    assert filled.status_code == 200, filled.json
    api.run_jobs()  # the document to sign is prepared
    visitors = {"anonymous": Visitor(IsolatedClient(app, app.response_class, use_cookies=True))}
    visitors["anonymous"].keep_csrf("/login")
    visitors.update({role: staff_visitor(app, api, username) for role, username in STAFF.items()})
    for role, contract_id in (("customer", contract), ("other", other)):
        (link,) = [link for _, kind, link, _ in invitation_links(platform, contract_id)
                   if kind == "customer_invitation"]
        visitors[role] = customer_visitor(app, api, *CUSTOMERS[role], relative(link))
    (legal_task,) = api.tasks("legal", review)
    (customer_task,) = api.tasks("customer", contract)
    with platform.db.read() as session:  # the rendering whose pages the job drew
        pages = platform.documents.page_listing(session, platform.contracts.get(session, contract)).source_sha256
    ids = {"draft": draft, "review": review, "contract": contract, "other": other, "legal_task": legal_task["id"],
           "customer_task": customer_task["id"], "contract_pages": pages}
    return visitors, ids


def active_contract(app):
    """A contract signed by both sides and active: its history holds every kind of event the journey writes."""
    api = Api(app.test_client(), app.extensions["qianyue"])
    contract_id = at_customer(api, load_fixture("contract-technical-service.json"))
    complete_letters(api, contract_id)
    assert customer_signs(api, contract_id).status_code == 200
    api.sign("signatory", contract_id)
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "active"
    return contract_id
