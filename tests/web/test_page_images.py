"""A page image of the document is served by the rule that serves its PDF: the contract's own signer only; the signer
of another contract gets nothing, and someone not signed in is asked to sign in."""
import pytest

from tests.conftest import Api, IsolatedClient, load_fixture
from tests.letters.helpers import complete_letters
from tests.security.world import OTHER_CREDIT_CODE, at_customer, customer_visitor, relative
from tests.web.customer_flow import LiveApp, invitation_links
from workflows.models import Contract


@pytest.fixture
def live(database_url, tmp_path):
    server = LiveApp(database_url, tmp_path)
    yield server
    server.close()


def signer(live, api, contract_id, person):
    (link,) = [link for _to, kind, link, _body in invitation_links(live.platform, contract_id)
               if kind == "customer_invitation"]
    return customer_visitor(live.app, api, "customer", person, relative(link))


def first_page(platform, contract_id):
    with platform.db.read() as session:
        listing = platform.documents.page_listing(session, session.get(Contract, contract_id))
    assert listing.pages, "the job drew no pages"
    return f"/sign/{contract_id}/pages/{listing.source_sha256}/1.png"


def test_a_page_image_is_for_the_signer_of_its_contract(live):
    api = Api(live.app.test_client(), live.platform)
    ours = at_customer(api, load_fixture("contract-technical-service.json"))
    complete_letters(api, ours)  # the document to sign and its pages
    draft = load_fixture("contract-network-line.json")
    draft["customer"]["credit_code"] = OTHER_CREDIT_CODE
    theirs = at_customer(api, draft)
    api.run_jobs()  # its reading copy's pages
    page, their_page = first_page(live.platform, ours), first_page(live.platform, theirs)
    us, them = signer(live, api, ours, "xu.yongli"), signer(live, api, theirs, "wu.jianrong")

    shown = us.call("GET", page)
    assert shown.status_code == 200 and shown.mimetype == "image/png" and shown.data.startswith(b"\x89PNG")
    assert shown.headers["Cache-Control"] == "no-store"  # a contract's page stays off shared caches, as its PDF
    assert us.call("GET", page.replace("/1.png", "/999.png")).status_code == 404
    assert us.call("GET", their_page).status_code == 404  # another customer's contract: as if it did not exist
    assert them.call("GET", page).status_code == 404
    assert them.call("GET", their_page).status_code == 200
    anonymous = IsolatedClient(live.app, live.app.response_class, use_cookies=True).get(page)
    assert anonymous.status_code == 401 and "/auth/oidc/login" in anonymous.get_data(as_text=True)  # sign in first
