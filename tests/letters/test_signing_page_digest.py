"""The signing page asks on every view whether the prepared PDF is still the document the current values render: the
answer is kept per process by everything the document renders from, so views render nothing, and a change of the
values is seen at once."""
import pytest

from tests.letters.helpers import SECURITY_VALUES, at_customer, complete_letters, fill, signing_state, technical_service
from workflows.fingerprints import sha256_hex
from workflows.services import documents

pytestmark = pytest.mark.slow  # the document to sign is prepared (a PDF)


@pytest.fixture
def renders(monkeypatch):
    """The contract renderings made (the real renderer runs)."""
    made, real = [], documents.render_contract_html
    monkeypatch.setattr(documents, "render_contract_html", lambda contract: made.append(contract) or real(contract))
    return made


def digests(platform, contract_id):
    with platform.db.read() as session:
        contract = platform.contracts.get(session, contract_id)
        return platform.documents.html_digest(session, contract), sha256_hex(platform.documents.html(session, contract))


def test_views_of_the_signing_state_render_nothing_until_the_values_change(api, platform, renders):
    contract_id = at_customer(api, technical_service())
    complete_letters(api, contract_id)
    assert signing_state(api, contract_id)["status"] == "ready"
    renders.clear()
    for _ in range(3):
        assert signing_state(api, contract_id)["status"] == "ready"
    assert renders == []
    kept, rendered = digests(platform, contract_id)
    assert kept == rendered
    assert fill(api, contract_id, "information_security", {**SECURITY_VALUES, "security_officer_name": "张伟"}).status_code == 200
    changed, rendered = digests(platform, contract_id)
    assert changed == rendered != kept
