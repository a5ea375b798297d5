"""The customer's portal asks the database as often for three contracts as for one (it asked once more per contract
whether its signature was awaited)."""
from tests.letters.helpers import at_customer, technical_service
from tests.process.test_statements import counted_statements
from tests.web.customer_flow import invitation_links, invited_person



def accepted(api, platform, person):
    contract_id = at_customer(api, technical_service())
    (link,) = [link for _, kind, link, _ in invitation_links(platform, contract_id) if kind == "customer_invitation"]
    platform.invitations.accept(person, link.rsplit("/", 1)[1])
    return contract_id


def test_the_portal_asks_as_often_for_three_contracts_as_for_one(api, platform, client):
    person = invited_person(platform, client)
    contracts = [accepted(api, platform, person)]
    client.get("/portal")
    with counted_statements(platform.db) as for_one:
        assert client.get("/portal").status_code == 200
    contracts += [accepted(api, platform, person) for _ in range(2)]
    with counted_statements(platform.db) as for_three:
        page = client.get("/portal").get_data(as_text=True)
    assert len(for_three) == len(for_one), "\n".join(for_three)
    assert all(f'class="button" href="/sign/{contract_id}"' in page for contract_id in contracts), page
