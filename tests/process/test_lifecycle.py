"""Every path through bpmn/contract_approval.bpmn, driven through the REST API as an integration would."""
from datetime import timedelta

import pytest

from tests.conftest import load_fixture
from tests.letters.helpers import complete_letters
from workflows.clock import utcnow


def small_contract():
    """Below the finance threshold, no discount, every payment inside the term: finance is skipped."""
    draft = load_fixture("contract-technical-service.json")
    draft.update({
        "title": "小额技术服务合同", "total": "100000.00",
        "items": [{"name": "运维服务", "content": "系统运维", "amount": "100000.00"}],
        "payment_plan": {"installments": [{"due_date": "2025-06-30", "amount": "100000.00"}]},
        "term": {"start": "2025-01-01", "end": "2027-12-31"},  # still running: a term over ends at activation
    })
    return draft


def create(api, draft):
    response = api.call("POST", "/contracts", "sales", draft)
    assert response.status_code == 201, response.json
    return response.json


def submit(api, contract_id):
    response = api.call("POST", f"/contracts/{contract_id}/submit", "sales")
    assert response.status_code == 200, response.json
    return response.json


def status(api, contract_id):
    return api.call("GET", f"/contracts/{contract_id}", "sales").json["status"]


def events(api, contract_id):
    return api.call("GET", f"/contracts/{contract_id}/history", "sales").json["items"]


def test_happy_path_to_active(api):
    contract = create(api, load_fixture("contract-technical-service.json"))
    assert contract["status"] == "draft" and contract["version"] == 1
    assert [t["name"] for t in contract["tasks"]] == ["prepare_draft"]
    assert submit(api, contract["id"])["status"] == "legal_review"
    assert api.decide("legal", contract["id"], "approve", "同意")["contract"]["status"] == "finance_review"
    assert api.decide("finance", contract["id"], "approve")["contract"]["status"] == "awaiting_customer"
    assert api.decide("customer", contract["id"], "sign")["contract"]["status"] == "countersigning"
    complete_letters(api, contract["id"])  # the activation gate: every mandated letter filled in and signed
    final = api.decide("signatory", contract["id"], "sign")
    assert final["contract"]["status"] == "active"
    assert final["next_tasks"] == []
    detail = api.call("GET", f"/contracts/{contract['id']}", "sales").json
    assert detail["effective_from"] == "2025-01-01" and detail["effective_to"] == "2027-12-31"
    assert [(l["title"], l["status"]) for l in detail["letters"]] == [("网络及信息安全承诺书", "signed")]
    decisions = [(e["task_name"], e["decision"], e["actor"]) for e in events(api, contract["id"]) if e["event"] == "task_completed"]
    assert decisions == [("prepare_draft", "submit", "sales"), ("legal_review", "approve", "legal"),
                         ("finance_review", "approve", "finance"), ("customer_sign", "sign", "customer:1"),
                         ("provider_countersign", "sign", "signatory")]


def test_legal_return_loop_makes_a_new_version(api):
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    returned = api.decide("legal", contract["id"], "return", "第十一条联系人与首页不一致")
    assert returned["contract"]["status"] == "draft"
    assert [t["name"] for t in returned["next_tasks"]] == ["prepare_draft"]
    patched = api.call("PATCH", f"/contracts/{contract['id']}", "sales", {"designated_contacts": {"provider": "陆洋"}})
    assert patched.status_code == 200, patched.json
    assert patched.json["version"] == 2 and len(patched.json["versions"]) == 2
    assert "contact_inconsistent" not in [f["code"] for f in patched.json["lint"]]
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    assert status(api, contract["id"]) == "finance_review"
    returns = [e for e in events(api, contract["id"]) if e["decision"] == "return"]
    assert returns[0]["comment"] == "第十一条联系人与首页不一致" and returns[0]["actor"] == "legal"


def test_finance_return_goes_back_to_sales(api):
    contract = create(api, load_fixture("contract-network-line.json"))
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    assert status(api, contract["id"]) == "finance_review"  # discounts and a payment after the term
    api.decide("finance", contract["id"], "return", "第二期付款晚于服务期满")
    assert status(api, contract["id"]) == "draft"
    submit(api, contract["id"])
    assert status(api, contract["id"]) == "legal_review"


def test_finance_is_skipped_below_the_threshold(api):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    after_legal = api.decide("legal", contract["id"], "approve")
    assert after_legal["contract"]["status"] == "awaiting_customer"
    assert [t["role"] for t in after_legal["next_tasks"]] == ["customer"]


def test_customer_decline_needs_a_reason_and_ends_the_process(api):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    (task,) = api.tasks("customer", contract["id"])
    refused = api.call("POST", f"/tasks/{task['id']}/complete", "customer", {"decision": "decline"})
    assert refused.status_code == 422 and "comment" in refused.json["fields"]
    declined = api.decide("customer", contract["id"], "decline", "价格需重新商议")
    assert declined["contract"]["status"] == "declined"
    assert api.tasks("customer", contract["id"]) == []


def at_customer_step(api):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    api.decide("legal", contract["id"], "approve")
    return contract["id"]


def test_reminder_timer_leaves_the_customer_task_open(api, platform):
    contract_id = at_customer_step(api)
    assert platform.timers.run_due(at=utcnow() + timedelta(days=1)) == 0
    assert platform.timers.run_due(at=utcnow() + timedelta(days=4)) == 1
    assert status(api, contract_id) == "awaiting_customer"
    names = [e["event"] for e in events(api, contract_id)]
    assert names.count("timer_fired") == 1 and names.count("customer_reminder") == 1
    assert platform.timers.run_due(at=utcnow() + timedelta(days=5)) == 0  # a fired timer does not fire again


def test_expiry_timer_expires_the_invitation(api, platform):
    contract_id = at_customer_step(api)
    (task,) = api.tasks("customer", contract_id)
    assert platform.timers.run_due(at=utcnow() + timedelta(days=15)) == 1
    assert status(api, contract_id) == "expired"
    late = api.call("POST", f"/tasks/{task['id']}/complete", "customer", {"decision": "sign"})
    assert late.status_code == 409
    assert api.call("GET", f"/tasks/{task['id']}", "customer").json["state"] == "cancelled"


def test_restart_continues_every_instance(api, app, database_url, tmp_path):
    from webapp import create_app
    contract = create(api, load_fixture("contract-technical-service.json"))
    submit(api, contract["id"])
    restarted = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x", "APP_ENV": "development",
                            "INSTANCE_PATH": str(tmp_path)})
    try:
        from tests.conftest import Api
        fresh = Api(restarted.test_client(), restarted.extensions["qianyue"])
        fresh.decide("legal", contract["id"], "approve")
        fresh.decide("finance", contract["id"], "approve")
        fresh.decide("customer", contract["id"], "sign")
        complete_letters(fresh, contract["id"])
        assert fresh.decide("signatory", contract["id"], "sign")["contract"]["status"] == "active"
    finally:
        restarted.extensions["qianyue"].db.dispose()


@pytest.mark.parametrize("decision", ["approve", "return"])
def test_a_completed_task_answers_409(api, decision):
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    assert api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": decision, "comment": "x"}).status_code == 200
    again = api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": "approve"})
    assert again.status_code == 409 and again.json["error"] == "conflict"


def test_delegation_records_the_original_and_the_acting_approver(api, platform):
    with platform.db.write() as session:
        platform.accounts.create_user(session, "legal2", ["legal"], "another-pass", "法务 王律", "legal2@provider.example")
    contract = create(api, small_contract())
    submit(api, contract["id"])
    (task,) = api.tasks("legal", contract["id"])
    assert api.call("POST", f"/tasks/{task['id']}/claim", "legal").status_code == 200
    refused = api.call("POST", f"/tasks/{task['id']}/delegate", "legal", {"to": "finance"})
    assert refused.status_code == 422 and "to" in refused.json["fields"]
    assert api.call("POST", f"/tasks/{task['id']}/delegate", "sales", {"to": "legal2"}).status_code == 403
    delegated = api.call("POST", f"/tasks/{task['id']}/delegate", "legal", {"to": "legal2", "comment": "休假"})
    assert delegated.status_code == 200 and delegated.json["assignee"] == "legal2"
    assert api.call("POST", f"/tasks/{task['id']}/complete", "legal", {"decision": "approve"}).status_code == 403
    assert api.call("POST", f"/tasks/{task['id']}/complete", "legal2", {"decision": "approve"}).status_code == 200
    decided = [e for e in events(api, contract["id"]) if e["decision"] == "approve"]
    assert [(e["actor"], e["on_behalf_of"]) for e in decided] == [("legal2", "legal")]
    handed = [e for e in events(api, contract["id"]) if e["event"] == "task_delegated"]
    assert handed[0]["details"] == {"from": "legal", "to": "legal2"} and handed[0]["comment"] == "休假"
