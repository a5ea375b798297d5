"""The inbox: my roles' tasks, counts per role, filters, search, due-date order, paging."""
import re

from tests.conftest import load_fixture


def submitted(api, fixture, **changes):
    draft = {**load_fixture(fixture), **changes}
    contract = api.call("POST", "/contracts", "sales", draft).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    return contract


def numbers(page):
    return re.findall(r"HAXX[SE]\d{7}[A-Z]{3}\d{2}", page.get_data(as_text=True))


def test_filters_search_and_counts(api, as_user):
    tech = submitted(api, "contract-technical-service.json")
    line = submitted(api, "contract-network-line.json")
    legal = as_user("legal")
    page = legal.get("/inbox")
    assert set(numbers(page)) == {tech["number"], line["number"]}
    assert "法务 (2)" in page.get_data(as_text=True)
    assert numbers(legal.get("/inbox?service_type=vpn_line")) == [line["number"]]
    assert numbers(legal.get("/inbox?customer=长垣")) == [tech["number"]]
    assert numbers(legal.get("/inbox?min_total=500000")) == [tech["number"]]
    assert numbers(legal.get("/inbox?max_total=500000")) == [line["number"]]
    assert numbers(legal.get(f"/inbox?q={line['number'][-8:]}")) == [line["number"]]
    assert numbers(legal.get("/inbox?overdue=1")) == []
    bad = legal.get("/inbox?min_total=abc")
    assert bad.status_code == 200 and "error-text" in bad.get_data(as_text=True)
    (task,) = api.tasks("legal", tech["id"])
    api.call("POST", f"/tasks/{task['id']}/claim", "legal")
    assert numbers(legal.get("/inbox?assignment=mine")) == [tech["number"]]
    assert numbers(legal.get("/inbox?assignment=unclaimed")) == [line["number"]]
    assert numbers(as_user("finance").get("/inbox")) == []


def test_pages_come_from_the_database_in_due_order(api, as_user):
    created = [submitted(api, "contract-network-line.json") for _ in range(27)]
    legal = as_user("legal")
    first, second = numbers(legal.get("/inbox")), numbers(legal.get("/inbox?page=2"))
    assert len(first) == 25 and len(second) == 2
    assert first + second == [c["number"] for c in created]  # same SLA: due dates follow submission order
    assert "第 2/2 页，共 27 项待办" in legal.get("/inbox?page=2").get_data(as_text=True)
