"""Contract numbers carry the month in China, whatever the server's zone."""
from datetime import datetime, timezone

from tests.conftest import load_fixture
from workflows.services import contracts as contract_service


def test_a_contract_drafted_just_after_midnight_in_china_is_numbered_in_the_new_month(api, monkeypatch):
    # 16:30 UTC on 31 January 2031 is 00:30 on 1 February in Shanghai
    monkeypatch.setattr(contract_service, "utcnow", lambda: datetime(2031, 1, 31, 16, 30, tzinfo=timezone.utc))
    first = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json"))
    second = api.call("POST", "/contracts", "sales", load_fixture("contract-network-line.json"))
    assert first.status_code == second.status_code == 201
    assert first.json["number"] == "HAXXS3102001ECN00"
    assert second.json["number"] == "HAXXE3102001CGN00"
