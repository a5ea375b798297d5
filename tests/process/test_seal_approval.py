"""用印审批: when seal_rights.dmn names approvers (above 3,000,000 yuan, or an IDC service), the seal is approved by
them (a 会签 before 乙方会签盖章) before the signatory may countersign; a refusal ends the contract unsealed."""
import pytest
from sqlmodel import select

from tests.conftest import load_fixture
from tests.letters.helpers import at_customer, complete_letters
from tests.lifecycle.helpers import events
from tests.process.test_lifecycle import small_contract
from workflows.errors import Conflict
from workflows.models import Contract, ContractVersion



def large_contract():
    """Above the signatory's seal rights (3,000,000 yuan): the branch head approves the seal."""
    draft = small_contract()
    draft.update({"title": "大额技术服务合同", "total": "3200000.00",
                  "items": [{"name": "运维服务", "content": "系统运维", "amount": "3200000.00"}],
                  "payment_plan": {"installments": [{"due_date": "2025-06-30", "amount": "3200000.00"}]}})
    return draft


def signed_by_customer(api, draft):
    contract_id = at_customer(api, draft)
    complete_letters(api, contract_id)
    api.decide("customer", contract_id, "sign")
    return contract_id


def seal_task(api, contract_id):
    (task,) = [t for t in api.tasks("branch_head", contract_id) if t["name"] == "seal_approval"]
    return task


def countersign(api, contract_id, task_id):
    """The signatory's countersignature on ``task_id`` through the task API (the seal is checked before the code)."""
    digest = api.call("GET", f"/contracts/{contract_id}", "signatory").json["document"]["document_sha256"]
    return api.call("POST", f"/tasks/{task_id}/complete", "signatory",
                    {"decision": "sign", "document_sha256": digest, "intent_code": "000000"})


def test_no_seal_approval_when_no_rule_matches(api, platform):
    contract_id = signed_by_customer(api, small_contract())
    assert api.tasks("branch_head", contract_id)[0]["name"] == "provider_countersign"  # a provider's task, not named
    (checked,) = events(platform, contract_id, "seal_rights_checked")
    assert '"approvers": []' in checked.details
    assert api.decide("signatory", contract_id, "sign")["contract"]["status"] == "active"


def test_the_branch_head_approves_the_seal_before_the_countersignature(api, platform):
    contract_id = signed_by_customer(api, large_contract())
    task = seal_task(api, contract_id)
    assert task["candidate"] == "branch_head" and task["title"] == "用印审批"
    assert api.tasks("signatory", contract_id) == []  # nothing to countersign yet
    refused = api.call("POST", f"/tasks/{task['id']}/complete", "branch_head", {"decision": "refuse"})
    assert refused.status_code == 422 and "comment" in refused.json["fields"]  # a refusal needs a comment
    done = api.call("POST", f"/tasks/{task['id']}/complete", "branch_head", {"decision": "approve", "comment": "同意用印"})
    assert done.status_code == 200, done.json
    (approved,) = events(platform, contract_id, "seal_approved")
    assert approved.actor == "branch_head" and approved.comment == "同意用印"
    assert api.decide("signatory", contract_id, "sign")["contract"]["status"] == "active"


def test_an_idc_contract_needs_the_seal_approved_whatever_its_amount(api):
    draft = load_fixture("contract-network-line.json")
    draft["service_types"] = ["vpn_line", "idc"]
    contract_id = signed_by_customer(api, draft)
    assert seal_task(api, contract_id)["candidate"] == "branch_head"
    assert api.tasks("signatory", contract_id) == []


def test_a_refused_seal_ends_the_contract_unsealed(api, platform):
    contract_id = signed_by_customer(api, large_contract())
    task = seal_task(api, contract_id)
    response = api.call("POST", f"/tasks/{task['id']}/complete", "branch_head",
                        {"decision": "refuse", "comment": "金额超出本年度授权，暂不用印"})
    assert response.status_code == 200, response.json
    contract = api.call("GET", f"/contracts/{contract_id}", "sales").json
    assert contract["status"] == "seal_refused"
    (refused,) = events(platform, contract_id, "seal_refused")
    assert refused.actor == "branch_head" and refused.comment == "金额超出本年度授权，暂不用印"
    assert api.tasks("signatory", contract_id) == []
    assert api.call("GET", f"/contracts/{contract_id}", "customer").status_code == 200  # the customer sees the outcome


def test_a_new_version_needs_its_own_seal_approval_on_every_door(api, platform, as_user):
    """The approval is for the version approved: once the contract's current version is another, the countersignature
    is refused with 409 on ``seal_approval`` through the API, the task page and the service itself."""
    contract_id = signed_by_customer(api, large_contract())
    task = seal_task(api, contract_id)
    api.call("POST", f"/tasks/{task['id']}/complete", "branch_head", {"decision": "approve"})
    (countersign_task,) = api.tasks("signatory", contract_id)
    with platform.db.write() as session:  # a correction written beside the process (as a repair would)
        contract = session.get(Contract, contract_id)
        old = session.exec(select(ContractVersion).where(ContractVersion.contract_id == contract_id,
                                                         ContractVersion.version == contract.current_version)).one()
        session.add(ContractVersion(contract_id=contract_id, version=old.version + 1, data_json=old.data_json,
                                    sha256=old.sha256, created_by="sales"))
        contract.current_version = old.version + 1
        session.add(contract)

    response = countersign(api, contract_id, countersign_task["id"])
    assert response.status_code == 409 and "seal_approval" in response.json["fields"], response.json

    browser = as_user("signatory")
    posted = browser.post(f"/tasks/{countersign_task['id']}/decide", {"decision": "sign", "intent_code": "000000"},
                          page=f"/tasks/{countersign_task['id']}")
    assert posted.status_code == 409 and "the seal is not approved" in posted.get_data(as_text=True)

    with pytest.raises(Conflict) as refused:
        platform.approval.decide(signatory(platform), countersign_task["id"], "sign")
    assert "seal_approval" in refused.value.fields
    assert api.call("GET", f"/contracts/{contract_id}", "sales").json["status"] == "countersigning"


def signatory(platform):
    with platform.db.read() as session:
        return platform.accounts.get(session, "signatory")
