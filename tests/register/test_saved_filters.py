"""Saved filters are each person's own: listed on the register page and by the API, run again, deleted; nobody else
sees, runs or deletes them."""
import re

from tests.conftest import csrf_token
from tests.register.helpers import city, drafted, school


def saved(api, user):
    response = api.call("GET", "/contracts/filters", user)
    assert response.status_code == 200, response.json
    return {item["name"]: item for item in response.json["items"]}


def test_a_saved_filter_is_its_owners_alone(api):
    drafted(api, school())
    second = drafted(api, city())
    made = api.call("POST", "/contracts/filters", "legal", {"name": "  专线 合同 ", "query": "service_type=vpn_line&days="})
    assert made.status_code == 201, made.json
    assert made.json["name"] == "专线 合同" and made.json["query"] == "service_type=vpn_line"
    again = api.call("GET", made.json["contracts_url"].removeprefix("/api/v1"), "legal")
    assert [item["number"] for item in again.json["items"]] == [second["number"]]
    assert list(saved(api, "legal")) == ["专线 合同"]
    assert saved(api, "finance") == {}  # another person's list
    assert api.call("DELETE", f"/contracts/filters/{made.json['id']}", "finance").status_code == 404
    assert api.call("DELETE", f"/contracts/filters/{made.json['id']}", "customer").status_code == 403
    replaced = api.call("POST", "/contracts/filters", "legal", {"name": "专线 合同", "query": "status=draft"})
    assert replaced.status_code == 201 and replaced.json["id"] == made.json["id"]
    assert saved(api, "legal")["专线 合同"]["query"] == "status=draft"
    assert api.call("DELETE", f"/contracts/filters/{made.json['id']}", "legal").status_code == 204
    assert saved(api, "legal") == {}


def test_what_cannot_be_saved_is_named(api):
    for body, field in (({"name": "", "query": "status=draft"}, "name"), ({"name": "x" * 61, "query": "status=draft"}, "name"),
                        ({"name": "全部", "query": ""}, "query"), ({"name": "坏的", "query": "min_total=abc"}, "min_total"),
                        ({"name": "坏的", "query": 5}, "query")):
        response = api.call("POST", "/contracts/filters", "legal", body)
        assert response.status_code == 422 and field in response.json["fields"], (body, response.json)
    assert saved(api, "legal") == {}


def test_the_page_saves_lists_runs_and_deletes_them(api, as_user):
    drafted(api, school())
    second = drafted(api, city())
    legal, finance = as_user("legal"), as_user("finance")
    page = legal.get("/contracts?customer=城市管理").get_data(as_text=True)
    query = re.search(r'name="query" value="([^"]+)"', page).group(1)
    assert query == "customer=%E5%9F%8E%E5%B8%82%E7%AE%A1%E7%90%86"
    done = legal.client.post("/contracts/filters", data={"name": "城管", "query": query, "csrf_token": csrf_token(page)},
                             follow_redirects=True)
    listed = done.get_data(as_text=True)
    assert "已保存查询“城管”" in listed and second["number"] in listed
    link = re.search(r'<a href="(/contracts\?[^"]+)">城管</a>', listed).group(1)
    assert second["number"] in legal.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert "我保存的查询" not in finance.get("/contracts").get_data(as_text=True)
    delete = re.search(r'action="(/contracts/filters/\d+/delete)"', listed).group(1)
    assert finance.post(delete, page="/contracts").status_code == 404
    gone = legal.client.post(delete, data={"csrf_token": csrf_token(listed)}, follow_redirects=True).get_data(as_text=True)
    assert "已删除保存的查询" in gone and "我保存的查询" not in gone
