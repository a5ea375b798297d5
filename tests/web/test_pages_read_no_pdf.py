"""Pages show a signed contract's documents by their facts (kind, SHA-256, whether the package exists) and never read
the PDFs themselves: half a megabyte for the document, more for the package, on every view of the contract page, the
signing page and the countersignatory's task page."""
import pytest

from tests.conftest import load_fixture
from tests.letters.helpers import at_customer, complete_letters, customer_signs
from tests.process.test_statements import counted_statements
from webapp.oidc import CUSTOMER_KEY
from workflows.actors import API_ISSUER

pytestmark = pytest.mark.slow  # the document is prepared and signed (PDFs)


def pdfs_read(platform, browser, path, shows):
    with counted_statements(platform.db) as statements:
        page = browser.get(path).get_data(as_text=True)
    assert shows in page, (path, page[:3000])
    return [statement for statement in statements if "signed_document.pdf" in statement]


def test_the_pages_of_a_contract_in_signing_and_signed_read_no_pdf(api, platform, as_user, client):
    contract_id = at_customer(api, load_fixture("contract-technical-service.json"))
    complete_letters(api, contract_id)
    with platform.db.write() as session:  # the school's account in a browser, as its sign-in leaves the session
        _identity, token = platform.customers.sign_in(session, {
            "issuer": API_ISSUER, "subject": "customer", "name": "徐永立", "email": "xu.yongli@school.example",
            "email_verified": True}, "embedded")
    with client.session_transaction() as session:
        session[CUSTOMER_KEY] = token
    assert pdfs_read(platform, client, f"/sign/{contract_id}", 'id="sign-form"') == []
    assert customer_signs(api, contract_id).status_code == 200
    (task,) = api.tasks("signatory", contract_id)
    assert pdfs_read(platform, as_user("signatory"), f"/tasks/{task['id']}", "SHA-256") == []
    api.sign("signatory", contract_id)  # active, the package built
    sales = as_user("sales")
    assert pdfs_read(platform, sales, f"/contracts/{contract_id}", f"/contracts/{contract_id}/package.pdf") == []
    assert pdfs_read(platform, client, f"/sign/{contract_id}", f"/sign/{contract_id}/package.pdf") == []
