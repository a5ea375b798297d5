"""The register's search through the API, on SQLite and PostgreSQL: each filter, the clause text (Chinese), the canned
filters, who sees what, paging from the database and refused arguments."""
from datetime import date, timedelta
from urllib.parse import urlencode

import pytest
from sqlalchemy import text

from tests.letters.helpers import at_customer
from tests.register.helpers import MACHINE_ROOM, SCHOOL_CREDIT_CODE, city, drafted, numbers, school, set_columns
from workflows.clock import china_time, utcnow
from workflows.services.register import CANNED, CANNED_FILTERS


def search(api, user="legal", **args):
    return api.call("GET", "/contracts?" + urlencode(args), user)


@pytest.fixture
def three(api):
    """The school's contract with a clause about the machine room, the city's, and a second school's for less."""
    first = drafted(api, school(special_terms=MACHINE_ROOM))
    second = drafted(api, city())
    customer = {key: value for key, value in school()["customer"].items() if key != "credit_code"}
    third = drafted(api, school(customer={**customer, "name": "新乡市第二中学"},
                                items=[{"name": "考试服务", "content": "精准教学考试服务", "amount": "79999.98"}],
                                total="79999.98", payment_plan={"every_months": 6, "amount": "13333.33",
                                                                "first_due": "2025-06-30"}))
    return first, second, third


def test_each_fact_filters(api, three):
    first, second, third = three
    assert numbers(search(api)) == sorted(c["number"] for c in three)
    assert numbers(search(api, number=first["number"][-8:])) == [first["number"]]
    assert numbers(search(api, customer="城市管理")) == [second["number"]]
    assert numbers(search(api, credit_code=SCHOOL_CREDIT_CODE[:6].lower())) == [first["number"]]
    assert numbers(search(api, service_type="vpn_line")) == [second["number"]]
    assert numbers(search(api, service_type="technical_service")) == sorted([first["number"], third["number"]])
    assert numbers(search(api, min_total="100000", max_total="500000")) == [second["number"]]
    assert numbers(search(api, max_total="79999.98")) == [third["number"]]
    assert numbers(search(api, min_total="1080000.00")) == [first["number"]]
    assert numbers(search(api, status="legal_review")) == []
    assert api.call("POST", f"/contracts/{second['id']}/submit", "sales").status_code == 200
    assert numbers(search(api, status="legal_review")) == [second["number"]]


def test_term_dates_filter_on_the_term_in_force(api, platform, three):
    first, second, _third = three
    set_columns(platform, first["id"], status="active", effective_from=date(2025, 1, 1), effective_to=date(2027, 12, 31))
    set_columns(platform, second["id"], status="active", effective_from=date(2022, 1, 1), effective_to=date(2022, 12, 31))
    assert numbers(search(api, start_from="2024-12-31", start_to="2025-01-01")) == [first["number"]]
    assert numbers(search(api, start_to="2024-12-31")) == [second["number"]]
    assert numbers(search(api, end_from="2022-12-31", end_to="2022-12-31")) == [second["number"]]
    assert numbers(search(api, end_from="2023-01-01")) == [first["number"]]


def test_clause_text_finds_chinese_words_of_the_current_version(api, three):
    first, second, third = three
    assert numbers(search(api, text="机房内施工")) == [first["number"]]          # a special term of one contract
    assert numbers(search(api, text="陪同")) == [first["number"]]                # two characters: below a trigram
    assert numbers(search(api, text="提前三个工作日 书面通知")) == [first["number"]]  # every word must occur
    assert numbers(search(api, text="提前三个工作日 城市管理局")) == []
    assert numbers(search(api, text="数字城管专线")) == [second["number"]]      # the title, as rendered
    assert numbers(search(api, text="新乡市第二中学")) == [third["number"]]     # the parties, as rendered
    assert numbers(search(api, text="vpn专线")) == [second["number"]]           # Latin letters in any case
    assert numbers(search(api, text="100%")) == []                              # a LIKE wildcard is a character
    revised = api.call("PATCH", f"/contracts/{first['id']}", "sales", {"special_terms": "乙方派驻工程师一名常驻甲方。"})
    assert revised.status_code == 200, revised.json
    assert numbers(search(api, text="派驻工程师")) == []  # taken by a job after the commit, not in the revision's
    api.run_jobs()
    assert numbers(search(api, text="机房内施工")) == []                         # no longer in the current version
    assert numbers(search(api, text="派驻工程师")) == [first["number"]]


def test_expiring_within_n_days(api, platform, three):
    first, second, third = three
    today = china_time(utcnow()).date()
    set_columns(platform, first["id"], status="active", effective_to=today + timedelta(days=10))
    set_columns(platform, second["id"], status="active", effective_to=today + timedelta(days=45))
    set_columns(platform, third["id"], status="active", effective_to=today - timedelta(days=1))  # already ended
    assert numbers(search(api, canned="expiring")) == [first["number"]]  # default: 30 days
    assert numbers(search(api, canned="expiring", days="45")) == sorted([first["number"], second["number"]])
    assert numbers(search(api, canned="expiring", days="9")) == []


def test_awaiting_the_customer_for_more_than_n_days(api, platform):
    waiting = at_customer(api, school())
    at_customer(api, city())  # sent just now
    with platform.db.write() as session:
        session.execute(text("UPDATE human_task SET created_at = :then WHERE contract_id = :id AND role = 'customer'"),
                        {"then": utcnow() - timedelta(days=8), "id": waiting})
    found = search(api, canned="awaiting_customer")  # default: 7 days
    assert [item["id"] for item in found.json["items"]] == [waiting]
    assert [item["id"] for item in search(api, canned="awaiting_customer", days="9").json["items"]] == []
    assert [item["id"] for item in search(api, canned="awaiting_customer", days="1").json["items"]] == [waiting]
    assert search(api, status="awaiting_customer").json["total"] == 2


def test_the_canned_filters_are_a_declared_list():
    assert [canned.code for canned in CANNED_FILTERS] == list(CANNED) == ["expiring", "awaiting_customer"]
    assert all(1 <= canned.default_days <= 365 for canned in CANNED_FILTERS)


def test_a_customer_searches_only_its_own_contracts(api, three):
    mine = at_customer(api, school(special_terms=MACHINE_ROOM))  # the demo account acts for the school's credit code
    api.run_jobs()  # its clause text
    first, second, third = three                                 # drafts: never a customer's to see
    assert [item["id"] for item in search(api, "customer").json["items"]] == [mine]
    assert [item["id"] for item in search(api, "customer", text="机房内施工").json["items"]] == [mine]
    assert search(api, "customer", customer="城市管理").json["total"] == 0
    assert search(api, "legal", text="机房内施工").json["total"] == 2


def test_pages_come_from_the_database(api, three):
    page = search(api, limit="2", offset="0").json
    rest = search(api, limit="2", offset="2").json
    assert (page["total"], rest["total"], len(page["items"]), len(rest["items"])) == (3, 3, 2, 1)
    newest_first = [c["number"] for c in reversed(three)]
    assert [item["number"] for item in page["items"] + rest["items"]] == newest_first


@pytest.mark.parametrize("args, field", [
    ({"min_total": "abc"}, "min_total"), ({"min_total": "1.005"}, "min_total"), ({"max_total": "-1"}, "max_total"),
    ({"min_total": "NaN"}, "min_total"), ({"min_total": "9", "max_total": "1"}, "max_total"),
    ({"start_from": "2025-13-01"}, "start_from"), ({"end_to": "tomorrow"}, "end_to"),
    ({"end_from": "2025-02-01", "end_to": "2025-01-01"}, "end_to"), ({"status": "wizard"}, "status"),
    ({"service_type": "fax"}, "service_type"), ({"canned": "overdue_everything"}, "canned"),
    ({"canned": "expiring", "days": "0"}, "days"), ({"days": "5"}, "days"), ({"credit_code": "12-34"}, "credit_code"),
    ({"text": "一 二 三 四 五 六"}, "text"), ({"number": "N" * 41}, "number"),
])
def test_a_refused_argument_is_named(api, args, field):
    response = search(api, **args)
    assert response.status_code == 422 and field in response.json["fields"], response.json
