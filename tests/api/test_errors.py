"""Clear JSON errors with the right status, field by field; nothing answers 500."""
import pytest

from tests.conftest import load_fixture


def test_no_token_is_401(client):
    response = client.get("/api/v1/tasks")
    assert response.status_code == 401 and response.json["error"] == "unauthorized"
    assert client.get("/api/v1/tasks", headers={"Authorization": "Bearer qy_nope"}).status_code == 401


def test_wrong_role_is_403_and_changes_nothing(api):
    response = api.call("POST", "/contracts", "legal", load_fixture("contract-technical-service.json"))
    assert response.status_code == 403 and response.json["error"] == "forbidden"
    assert api.call("GET", "/contracts", "legal").json["total"] == 0


def test_invalid_contract_is_422_with_every_field_and_saves_nothing(api):
    draft = load_fixture("contract-technical-service.json")
    draft["customer"]["credit_code"] = "12410728417309214X"
    draft["term"]["end"] = "2024-01-01"
    response = api.call("POST", "/contracts", "sales", draft)
    assert response.status_code == 422
    assert {"customer.credit_code", "term.end"} <= set(response.json["fields"])
    assert api.call("GET", "/contracts", "sales").json["total"] == 0


def test_unknown_things_are_404(api):
    assert api.call("GET", "/contracts/999", "sales").status_code == 404
    assert api.call("GET", "/tasks/not-a-uuid", "legal").status_code == 404
    assert api.call("GET", "/tasks/8a8a8a8a-8a8a-4a8a-8a8a-8a8a8a8a8a8a", "legal").status_code == 404
    missing = api.call("GET", "/no/such/route", "sales")
    assert missing.status_code == 404 and missing.json["error"] == "not_found"


def test_patch_outside_the_draft_is_409(api):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    response = api.call("PATCH", f"/contracts/{contract['id']}", "sales", {"title": "改名"})
    assert response.status_code == 409
    assert api.call("POST", f"/contracts/{contract['id']}/submit", "sales").status_code == 409


def test_malformed_json_is_400(api):
    response = api.call("POST", "/contracts", "sales", data=b"{not json", headers={"Content-Type": "application/json"})
    assert response.status_code == 400 and response.json["error"] == "bad_request"


def test_method_not_allowed_is_json(api):
    response = api.call("DELETE", "/contracts", "sales")
    assert response.status_code == 405 and "error" in response.json


GARBAGE = [None, [], "text", 12, 1.5, True, {"": None}, {"decision": ["approve"]}, {"decision": "approve", "comment": 5},
           {"title": "x" * 100_000}, {"customer": []}, {"items": "none"}, {"total": "1e309"}, {"total": float("inf")},
           {"payment_plan": {"every_months": 0, "amount": "1"}}, {"term": {"start": "2025-02-30"}},
           {"template": {"$ne": 1}}, {"service_types": [None]}, {"a" * 300: 1}]


@pytest.mark.parametrize("body", GARBAGE, ids=range(len(GARBAGE)))
def test_no_input_answers_500(api, body):
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    (task,) = api.tasks("sales", contract["id"])
    calls = [("POST", "/contracts", "sales"), ("PATCH", f"/contracts/{contract['id']}", "sales"),
             ("POST", f"/contracts/{contract['id']}/submit", "sales"), ("POST", f"/tasks/{task['id']}/complete", "sales"),
             ("POST", f"/tasks/{task['id']}/claim", "sales")]
    for method, path, user in calls:
        if body is not None and isinstance(body, dict) and any(isinstance(v, float) and v != v or v == float("inf") for v in body.values()):
            response = api.call(method, path, user, data=b'{"total": Infinity}', headers={"Content-Type": "application/json"})
        else:
            response = api.call(method, path, user, body)
        assert response.status_code < 500, (method, path, body, response.json)
        assert set(response.json) >= ({"error", "message", "fields"} if response.status_code >= 400 else set())


def test_the_audit_chain_is_reported_and_a_tampered_event_is_named(api, platform):
    from sqlalchemy import text
    contract = api.call("POST", "/contracts", "sales", load_fixture("contract-technical-service.json")).json
    api.call("POST", f"/contracts/{contract['id']}/submit", "sales")
    intact = api.call("GET", f"/contracts/{contract['id']}/audit", "legal").json
    assert intact["ok"] and intact["events"] >= 3 and len(intact["head"]) == 64
    with platform.db.write() as session:
        first = session.execute(text("SELECT min(id) FROM history_event WHERE contract_id = :c"), {"c": contract["id"]}).scalar()
        session.execute(text("UPDATE history_event SET actor = 'mallory' WHERE id = :id"), {"id": first})
    broken = api.call("GET", f"/contracts/{contract['id']}/audit", "legal").json
    assert not broken["ok"] and broken["first_broken_event_id"] == first and "edited" in broken["reason"]


def test_nul_characters_are_refused_before_the_database(api):
    draft = load_fixture("contract-technical-service.json")
    draft["title"] = "合同\u0000标题"
    response = api.call("POST", "/contracts", "sales", draft)
    assert response.status_code == 400 and response.json["error"] == "bad_request"
    assert api.call("GET", "/contracts?status=%00", "sales").status_code == 400
